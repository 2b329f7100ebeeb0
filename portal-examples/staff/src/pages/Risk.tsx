// The risk desk (needs risk.read): net exposure by symbol, asset class or region, live over the
// `exposureUpdated` subscription (the latest state by symbol, at most twice a second; the other views
// are read again when it changes) with a bar chart and the table behind it; alerts; toxic-flow flags
// with their evidence (confirm or dismiss with risk.manage_segments); the A/B/hybrid segmentation with
// an override; and what-if: a client's broker result had they been booked otherwise.
import { useEffect, useRef, useState } from "react";
import { useClient, useMutation, useQuery, useSubscription } from "urql";
import { BarChart, FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { Book, ExposureDimension, FlagDecision, FlagStatus, StaffRiskWhatIfQuery } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const ExposureQuery = graphql(`
  query StaffRiskExposure($by: ExposureDimension!) {
    riskExposure(by: $by) { dimension asOf unpricedSymbols lines { key netLots longLots shortLots positions notionalUsd clientPnlUsd } }
  }
`);

const ExposureSubscription = graphql(`
  subscription StaffExposureUpdated {
    exposureUpdated(maxPerSecond: 2) { eventId asOf coalesced lines { symbol netLots positions notionalUsd clientPnlUsd } }
  }
`);

const AlertsQuery = graphql(`
  query StaffRiskAlerts($first: Int, $after: String, $last: Int, $before: String) {
    riskAlerts(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id scope key measure observed threshold openedAt clearedAt }
    }
  }
`);

const FlagsQuery = graphql(`
  query StaffRiskFlags($status: FlagStatus, $first: Int, $after: String, $last: Int, $before: String) {
    riskFlags(status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId login detector status score evidence createdAt reviewNote clientId }
    }
  }
`);

const ReviewFlagMutation = graphql(`
  mutation StaffReviewRiskFlag($id: ID!, $decision: FlagDecision!, $note: String!) {
    reviewRiskFlag(id: $id, decision: $decision, note: $note) { flag { id status reviewNote } errors { field message code } }
  }
`);

const SegmentsQuery = graphql(`
  query StaffRiskSegments($first: Int, $after: String, $last: Int, $before: String) {
    riskSegmentAssignments(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id login clientId book aBookPercent source reason effectiveAt syncStatus }
    }
  }
`);

const OverrideSegmentMutation = graphql(`
  mutation StaffOverrideSegment($clientId: ID!, $book: Book!, $aBookPercent: Decimal!, $reason: String!) {
    overrideSegment(clientId: $clientId, book: $book, aBookPercent: $aBookPercent, reason: $reason) {
      assignments { id book aBookPercent } errors { field message code }
    }
  }
`);

const WhatIfQuery = graphql(`
  query StaffRiskWhatIf($clientIds: [ID!]!, $book: Book!, $aBookPercent: Decimal!, $since: DateTime!) {
    riskWhatIf(clientIds: $clientIds, book: $book, aBookPercent: $aBookPercent, since: $since) {
      since until unconvertedCurrencies
      lines { symbol closingDeals clientPnlUsd brokerPnlActualUsd brokerPnlWhatIfUsd }
      total { symbol closingDeals clientPnlUsd brokerPnlActualUsd brokerPnlWhatIfUsd }
    }
  }
`);

const DIMENSIONS: ExposureDimension[] = ["SYMBOL", "ASSET_CLASS", "REGION"];
const BOOKS: Book[] = ["A", "B", "HYBRID"];

export function Risk() {
  const { t } = useI18n();
  const { viewer } = useSession();
  const canSegment = (viewer?.permissions ?? []).includes("risk.manage_segments");
  return (
    <>
      <PageTitle>{t("risk.title")}</PageTitle>
      <Exposure />
      <Alerts />
      <Flags canReview={canSegment} />
      <Segments canOverride={canSegment} />
      <WhatIf />
    </>
  );
}

type Line = { key: string; netLots: string; positions: number; notionalUsd?: string | null; clientPnlUsd?: string | null };

function Exposure() {
  const { t, dateTime, number } = useI18n();
  const [by, setBy] = useState<ExposureDimension>("SYMBOL");
  const [{ data, error, fetching }, refetch] = useQuery({ query: ExposureQuery, variables: { by } });
  const [live] = useSubscription({ query: ExposureSubscription });
  const [updates, setUpdates] = useState(0);
  const lastEvent = useRef<string | null>(null);
  const event = live.data?.exposureUpdated;
  useEffect(() => {
    if (!event || event.eventId === lastEvent.current) return;
    lastEvent.current = event.eventId;
    setUpdates((n) => n + 1);
    if (by !== "SYMBOL") refetch({ requestPolicy: "network-only" });
  }, [event, by, refetch]);
  const useLive = by === "SYMBOL" && event;
  const lines: Line[] = useLive
    ? event.lines.map((l) => ({ key: l.symbol, netLots: l.netLots, positions: l.positions, notionalUsd: l.notionalUsd, clientPnlUsd: l.clientPnlUsd }))
    : (data?.riskExposure.lines ?? []);
  const asOf = useLive ? event.asOf : data?.riskExposure.asOf;
  if (error && !data) return <QueryError error={error} />;
  return (
    <section className="card" aria-labelledby="exposure-h">
      <h2 id="exposure-h">{t("risk.exposure")}</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <SelectField label={t("risk.exposureBy")} name="by" value={by} onChange={(e) => setBy(e.target.value as ExposureDimension)}>
          {DIMENSIONS.map((d) => <option key={d} value={d}>{t(`risk.dim.${d}`)}</option>)}
        </SelectField>
      </form>
      <p className="muted" aria-live="polite" data-testid="exposure-live">
        {live.error ? t("risk.liveError") : t("risk.liveCount", { count: updates })}{asOf ? ` · ${t("risk.asOf", { when: dateTime(asOf) })}` : ""}
      </p>
      {fetching && !data ? <Loading /> : null}
      {lines.length === 0 && data ? <p>{t("risk.noExposure")}</p> : null}
      {lines.length > 0 ? (
        <>
          <BarChart title={t("risk.chartTitle", { by: t(`risk.dim.${by}`) })} data={lines.map((l) => ({ label: l.key, value: l.netLots }))}
            format={(v) => `${number(v)} ${t("risk.lots")}`} />
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("risk.exposure")}>
            <table data-testid="exposure-table">
              <caption className="sr-only">{t("risk.exposure")}</caption>
              <thead><tr>
                <th scope="col">{t(`risk.dim.${by}`)}</th><th scope="col" className="num">{t("risk.netLots")}</th>
                <th scope="col" className="num">{t("risk.positions")}</th><th scope="col" className="num">{t("risk.notional")}</th>
                <th scope="col" className="num">{t("risk.clientPnl")}</th>
              </tr></thead>
              <tbody>{lines.map((l) => (
                <tr key={l.key} data-key={l.key}>
                  <th scope="row">{l.key}</th><td className="num" data-testid={`net-${l.key}`}>{number(l.netLots)}</td>
                  <td className="num">{l.positions}</td>
                  <td className="num">{l.notionalUsd ? <Money amount={l.notionalUsd} currency="USD" /> : "—"}</td>
                  <td className="num">{l.clientPnlUsd ? <Money amount={l.clientPnlUsd} currency="USD" /> : "—"}</td>
                </tr>
              ))}</tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}

function Alerts() {
  const { t, dateTime, number } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error }] = useQuery({ query: AlertsQuery, variables: cursor });
  return (
    <section className="card" aria-labelledby="alerts-h">
      <h2 id="alerts-h">{t("risk.alerts")}</h2>
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.riskAlerts.nodes.length === 0 ? <p>{t("risk.noAlerts")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("risk.alerts")}><table>
            <caption className="sr-only">{t("risk.alerts")}</caption>
            <thead><tr><th scope="col">{t("risk.scope")}</th><th scope="col">{t("risk.measure")}</th>
              <th scope="col" className="num">{t("risk.observed")}</th><th scope="col" className="num">{t("risk.threshold")}</th>
              <th scope="col">{t("risk.opened")}</th><th scope="col">{t("risk.cleared")}</th></tr></thead>
            <tbody>{data.riskAlerts.nodes.map((a) => (
              <tr key={a.id}><th scope="row">{a.scope}: {a.key}</th><td>{a.measure}</td><td className="num">{number(a.observed)}</td>
                <td className="num">{number(a.threshold)}</td><td>{dateTime(a.openedAt)}</td><td>{a.clearedAt ? dateTime(a.clearedAt) : "—"}</td></tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.riskAlerts.pageInfo} size={10} onPage={setCursor} label={t("risk.alerts")} />
        </>
      )) : null}
    </section>
  );
}

function Flags({ canReview }: { canReview: boolean }) {
  const { t, dateTime, number } = useI18n();
  const [status, setStatus] = useState<FlagStatus>("OPEN");
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error }, refetch] = useQuery({ query: FlagsQuery, variables: { ...cursor, status } });
  const [, review] = useMutation(ReviewFlagMutation);
  const [note, setNote] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["note"]);
  const decide = async (id: string, decision: FlagDecision) => {
    const r = await review({ id, decision, note: note.trim() });
    const payload = r.data?.reviewRiskFlag;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("risk.flagReviewed", { status: t(`flagStatus.${payload.flag?.status ?? decision}`) }));
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="flags-h">
      <h2 id="flags-h">{t("risk.flags")}</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("risk.flags")}>
        <SelectField label={t("risk.flagStatus")} name="flagStatus" value={status} onChange={(e) => { setStatus(e.target.value as FlagStatus); setCursor({ first: 10 }); }}>
          {(["OPEN", "CONFIRMED", "DISMISSED"] as FlagStatus[]).map((s) => <option key={s} value={s}>{t(`flagStatus.${s}`)}</option>)}
        </SelectField>
        {canReview ? <TextField label={t("risk.note")} name="note" errors={errors} value={note} onChange={(e) => setNote(e.target.value)} /> : null}
      </form>
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.riskFlags.nodes.length === 0 ? <p>{t("risk.noFlags")}</p> : (
        <>
          <ul className="plain">{data.riskFlags.nodes.map((f) => (
            <li key={f.id} className="card" data-testid="risk-flag">
              <h3>{f.detector} · {t("risk.login", { login: f.login })} · {t("risk.score", { score: number(f.score) })}</h3>
              <p className="muted">{dateTime(f.createdAt)} · {t(`flagStatus.${f.status}`)}{f.reviewNote ? ` · ${f.reviewNote}` : ""}</p>
              <details><summary>{t("risk.evidence")}</summary><pre className="evidence">{JSON.stringify(f.evidence, null, 2)}</pre></details>
              {canReview && f.status === "OPEN" ? (
                <div className="actions">
                  <button type="button" onClick={() => void decide(f.id, "CONFIRMED")} aria-label={t("risk.confirmFlag", { login: f.login, detector: f.detector })}>{t("risk.confirm")}</button>
                  <button type="button" className="secondary" onClick={() => void decide(f.id, "DISMISSED")} aria-label={t("risk.dismissFlag", { login: f.login, detector: f.detector })}>{t("risk.dismiss")}</button>
                </div>
              ) : null}
            </li>
          ))}</ul>
          <Pager info={data.riskFlags.pageInfo} size={10} onPage={setCursor} label={t("risk.flags")} />
        </>
      )) : null}
    </section>
  );
}

function Segments({ canOverride }: { canOverride: boolean }) {
  const { t, dateTime, number } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error }, refetch] = useQuery({ query: SegmentsQuery, variables: cursor });
  const [, override] = useMutation(OverrideSegmentMutation);
  const [form, setForm] = useState({ clientId: "", book: "A" as Book, aBookPercent: "100", reason: "" });
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["clientId", "book", "aBookPercent", "reason"]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const r = await override({ ...form, clientId: form.clientId.trim(), reason: form.reason.trim() });
    const payload = r.data?.overrideSegment;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("risk.overridden", { count: payload.assignments?.length ?? 0 }));
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="segments-h">
      <h2 id="segments-h">{t("risk.segments")}</h2>
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.riskSegmentAssignments.nodes.length === 0 ? <p>{t("risk.noSegments")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("risk.segments")}><table>
            <caption className="sr-only">{t("risk.segments")}</caption>
            <thead><tr><th scope="col">{t("risk.account")}</th><th scope="col">{t("risk.book")}</th><th scope="col" className="num">{t("risk.aPercent")}</th>
              <th scope="col">{t("risk.source")}</th><th scope="col">{t("risk.since")}</th><th scope="col">{t("risk.sync")}</th></tr></thead>
            <tbody>{data.riskSegmentAssignments.nodes.map((s) => (
              <tr key={s.id}><th scope="row">{s.login}</th><td>{t(`book.${s.book}`)}</td><td className="num">{number(s.aBookPercent)}</td>
                <td>{s.source}{s.reason ? ` (${s.reason})` : ""}</td><td>{dateTime(s.effectiveAt)}</td><td>{s.syncStatus}</td></tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.riskSegmentAssignments.pageInfo} size={10} onPage={setCursor} label={t("risk.segments")} />
        </>
      )) : null}
      {canOverride ? (
        <form noValidate onSubmit={submit} aria-labelledby="override-h">
          <h3 id="override-h">{t("risk.override")}</h3>
          <FormAlert errors={errors} />
          {notice ? <Notice tone="success">{notice}</Notice> : null}
          <div className="filters">
            <TextField label={t("risk.clientId")} name="clientId" errors={errors} value={form.clientId} onChange={(e) => setForm({ ...form, clientId: e.target.value })} />
            <SelectField label={t("risk.book")} name="book" errors={errors} value={form.book} onChange={(e) => setForm({ ...form, book: e.target.value as Book })}>
              {BOOKS.map((b) => <option key={b} value={b}>{t(`book.${b}`)}</option>)}
            </SelectField>
            <TextField label={t("risk.aPercent")} name="aBookPercent" errors={errors} value={form.aBookPercent} inputMode="decimal" onChange={(e) => setForm({ ...form, aBookPercent: e.target.value })} />
            <TextField label={t("risk.reason")} name="reason" errors={errors} value={form.reason} onChange={(e) => setForm({ ...form, reason: e.target.value })} />
          </div>
          <div className="actions"><button type="submit">{t("risk.overrideSave")}</button></div>
        </form>
      ) : null}
    </section>
  );
}

function WhatIf() {
  const { t } = useI18n();
  const client = useClient();
  const [form, setForm] = useState({ clientId: "", book: "A" as Book, aBookPercent: "100", days: "30" });
  const [report, setReport] = useState<StaffRiskWhatIfQuery["riskWhatIf"] | null>(null);
  const [problem, setProblem] = useState<Parameters<typeof QueryError>[0]["error"]>(undefined);
  const [busy, setBusy] = useState(false);
  const run = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const since = new Date(Date.now() - Math.max(1, Number(form.days) || 30) * 86_400_000).toISOString();
    const r = await client.query(WhatIfQuery, { clientIds: [form.clientId.trim()], book: form.book, aBookPercent: form.aBookPercent.trim(), since },
      { requestPolicy: "network-only" }).toPromise();
    setBusy(false);
    setProblem(r.error);
    setReport(r.data?.riskWhatIf ?? null);
  };
  const usd = (v?: string | null) => (v ? <Money amount={v} currency="USD" /> : "—");
  return (
    <section className="card" aria-labelledby="whatif-h">
      <h2 id="whatif-h">{t("risk.whatIf")}</h2>
      <p>{t("risk.whatIfExplain")}</p>
      <form noValidate onSubmit={run}>
        <div className="filters">
          <TextField label={t("risk.clientId")} name="whatIfClient" value={form.clientId} onChange={(e) => setForm({ ...form, clientId: e.target.value })} required />
          <SelectField label={t("risk.book")} name="whatIfBook" value={form.book} onChange={(e) => setForm({ ...form, book: e.target.value as Book })}>
            {BOOKS.map((b) => <option key={b} value={b}>{t(`book.${b}`)}</option>)}
          </SelectField>
          <TextField label={t("risk.aPercent")} name="whatIfPercent" value={form.aBookPercent} inputMode="decimal" onChange={(e) => setForm({ ...form, aBookPercent: e.target.value })} />
          <TextField label={t("risk.days")} name="whatIfDays" value={form.days} inputMode="numeric" onChange={(e) => setForm({ ...form, days: e.target.value })} />
        </div>
        <div className="actions"><button type="submit" disabled={busy}>{t("risk.whatIfRun")}</button></div>
      </form>
      <QueryError error={problem} />
      {report ? (
        <div className="table-wrap" tabIndex={0} role="region" aria-label={t("risk.whatIf")}><table data-testid="whatif">
          <caption className="sr-only">{t("risk.whatIf")}</caption>
          <thead><tr><th scope="col">{t("risk.dim.SYMBOL")}</th><th scope="col" className="num">{t("risk.deals")}</th>
            <th scope="col" className="num">{t("risk.clientPnl")}</th><th scope="col" className="num">{t("risk.brokerActual")}</th><th scope="col" className="num">{t("risk.brokerWhatIf")}</th></tr></thead>
          <tbody>{[...report.lines, report.total].map((l, i) => (
            <tr key={`${l.symbol}-${i}`}><th scope="row">{i === report.lines.length ? t("risk.total") : l.symbol}</th><td className="num">{l.closingDeals}</td>
              <td className="num">{usd(l.clientPnlUsd)}</td><td className="num">{usd(l.brokerPnlActualUsd)}</td><td className="num">{usd(l.brokerPnlWhatIfUsd)}</td></tr>
          ))}</tbody>
        </table></div>
      ) : null}
    </section>
  );
}
