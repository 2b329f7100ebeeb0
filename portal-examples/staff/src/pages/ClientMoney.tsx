// Client money (reconciliation.manage): the monthly client money return (CMAR-like; one line per currency
// from the month's daily closes, downloaded as CSV or XLSX through an audited link) and the daily runs'
// CLIENT_MONEY results: requirement vs resource per currency, shortfall or excess, each run signed off by a
// second person (the API refuses whoever prepared the close: recorded a resource, imported the statement,
// resolved a break; the refusal is shown beside the sign-off button).
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Money, PageTitle, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, type Cursor } from "./common";
import { ClientMoney as RunClientMoney } from "./Reconciliation";
import { useWho } from "./who";

const PAGE = 5;

const ReturnQuery = graphql(`
  query StaffClientMoneyReturn($month: String!) {
    clientMoneyReturn(month: $month) {
      month currency monthEndClose requirement resource difference highestRequirement highestOn lowestRequirement lowestOn
      daysReconciled shortfallDays breaks openBreaks signedOffDays lastSignedOffAt lastSignedOffByStaffUserId
    }
  }
`);

const ReturnLinkMutation = graphql(`
  mutation StaffClientMoneyReturnLink($month: String!, $format: ClientMoneyReturnFormat!) {
    clientMoneyReturnLink(month: $month, format: $format) { link { url expiresAt } errors { field message code } }
  }
`);

const RunsQuery = graphql(`
  query StaffClientMoneyRuns($first: Int, $after: String, $last: Int, $before: String) {
    reconciliationRuns(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId cutoff status summary { sections { section matched breaks } } }
    }
  }
`);

function thisMonth(): string {
  const now = new Date();
  return `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
}

function MonthlyReturn() {
  const { t, date, dateTime } = useI18n();
  const [month, setMonth] = useState(thisMonth);
  const [asked, setAsked] = useState(thisMonth);
  const errors = useFormErrors(["month", "format"]);
  const [{ data, error, fetching }] = useQuery({ query: ReturnQuery, variables: { month: asked } });
  const [, link] = useMutation(ReturnLinkMutation);
  const who = useWho((data?.clientMoneyReturn ?? []).map((l) => l.lastSignedOffByStaffUserId));
  const download = async (format: "CSV" | "XLSX") => {
    const r = await link({ month: asked, format });
    const payload = r.data?.clientMoneyReturnLink;
    if (!payload?.link) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    window.location.assign(payload.link.url);
  };
  return (
    <section className="card" aria-labelledby="cmr-h">
      <h2 id="cmr-h">{t("cmr.title")}</h2>
      <form className="filters" noValidate onSubmit={(e) => {
        e.preventDefault();
        if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) { errors.set([{ field: "month", message: t("cmr.badMonth"), code: "INVALID_CLIENT_MONEY_RETURN_PERIOD" }]); return; }
        errors.clear();
        setAsked(month);
      }}>
        <TextField label={t("cmr.month")} name="month" type="month" placeholder="2026-12" value={month} errors={errors} onChange={(e) => setMonth(e.target.value)} />
        <button type="submit">{t("cmr.show")}</button>
      </form>
      <FormAlert errors={errors} />
      {error && !data ? <QueryError error={error} /> : null}
      {fetching && !data ? <Loading /> : null}
      {data ? (data.clientMoneyReturn.length === 0 ? <p>{t("cmr.none")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("cmr.title")}>
            <table data-testid="cm-return">
              <caption className="sr-only">{t("cmr.of", { month: asked })}</caption>
              <thead><tr>
                <th scope="col">{t("cm.currency")}</th><th scope="col">{t("cmr.monthEnd")}</th>
                <th scope="col" className="num">{t("cm.requirement")}</th><th scope="col" className="num">{t("cm.resource")}</th>
                <th scope="col" className="num">{t("cm.difference")}</th><th scope="col">{t("cmr.highest")}</th><th scope="col">{t("cmr.lowest")}</th>
                <th scope="col" className="num">{t("cmr.days")}</th><th scope="col" className="num">{t("cmr.shortfallDays")}</th>
                <th scope="col" className="num">{t("cmr.openBreaks")}</th><th scope="col" className="num">{t("cmr.signedDays")}</th>
                <th scope="col">{t("cmr.lastSigned")}</th>
              </tr></thead>
              <tbody>
                {data.clientMoneyReturn.map((l) => (
                  <tr key={l.currency}>
                    <th scope="row">{l.currency}</th><td>{date(l.monthEndClose)}</td>
                    <td className="num"><Money amount={l.requirement} currency={l.currency} /></td>
                    <td className="num"><Money amount={l.resource} currency={l.currency} /></td>
                    <td className="num"><Money amount={l.difference} currency={l.currency} /></td>
                    <td><Money amount={l.highestRequirement} currency={l.currency} /> ({date(l.highestOn)})</td>
                    <td><Money amount={l.lowestRequirement} currency={l.currency} /> ({date(l.lowestOn)})</td>
                    <td className="num">{l.daysReconciled}</td><td className="num">{l.shortfallDays}</td>
                    <td className="num">{l.openBreaks} / {l.breaks}</td><td className="num">{l.signedOffDays}</td>
                    <td>{l.lastSignedOffAt ? t("cmr.signedBy", { at: dateTime(l.lastSignedOffAt), who: who(l.lastSignedOffByStaffUserId) }) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="actions">
            <button type="button" className="secondary" onClick={() => download("CSV")}>{t("cmr.csv")}</button>
            <button type="button" className="secondary" onClick={() => download("XLSX")}>{t("cmr.xlsx")}</button>
          </div>
        </>
      )) : null}
    </section>
  );
}

export function ClientMoneyPage() {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }] = useQuery({ query: RunsQuery, variables: cursor });
  const [selected, setSelected] = useState<{ id: string; label: string } | null>(null);
  if (error && !data) return <QueryError error={error} title={t("cmr.page")} />;
  return (
    <>
      <PageTitle>{t("cmr.page")}</PageTitle>
      <MonthlyReturn />
      <section className="card" aria-labelledby="cm-runs-h">
        <h2 id="cm-runs-h">{t("cmr.daily")}</h2>
        {fetching && !data ? <Loading /> : null}
        {data ? (data.reconciliationRuns.nodes.length === 0 ? <p>{t("recon.noRuns")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("cmr.daily")}>
              <table>
                <thead><tr>
                  <th scope="col">{t("recon.run#")}</th><th scope="col">{t("recon.cutoff")}</th><th scope="col">{t("recon.status")}</th>
                  <th scope="col">{t("cmr.sectionResult")}</th><th scope="col"><span className="sr-only">{t("recon.actions")}</span></th>
                </tr></thead>
                <tbody>
                  {data.reconciliationRuns.nodes.map((r) => {
                    const cm = r.summary.sections.filter((s) => s.section === "CLIENT_MONEY" || s.section === "BANK");
                    return (
                      <tr key={r.id}>
                        <th scope="row">{r.databaseId}</th><td>{dateTime(r.cutoff)}</td><td>{r.status}</td>
                        <td>{cm.map((s) => t("recon.sectionCount", { section: t(`recon.section.${s.section}`), matched: String(s.matched), breaks: String(s.breaks) })).join("; ") || "—"}</td>
                        <td><button type="button" className="secondary" aria-label={t("cmr.openRun", { id: r.databaseId })}
                          aria-pressed={selected?.id === r.id} onClick={() => setSelected({ id: r.id, label: r.databaseId })}>{t("cmr.open")}</button></td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
            <Pager info={data.reconciliationRuns.pageInfo} size={PAGE} onPage={setCursor} label={t("cmr.daily")} />
          </>
        )) : null}
      </section>
      {selected ? <RunClientMoney key={selected.id} runId={selected.id} label={selected.label} /> : null}
    </>
  );
}
