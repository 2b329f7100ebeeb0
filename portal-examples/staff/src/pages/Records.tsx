// Records on request (needs audit.read): one kind of record a regulator asks for (commission lines
// with their formula, IB relationships over time, balance adjustments, leverage changes,
// communications), narrowed to a client (found by e-mail or name) and a period, newest first; the
// same selection exported as CSV or XLSX through a short-lived, audited link.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Money, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { RecordExportFormat, RegulatorRecordKind } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 25;
const KINDS: RegulatorRecordKind[] = ["BALANCE_ADJUSTMENT", "COMMUNICATION", "COMMISSION", "IB_RELATIONSHIP", "LEVERAGE_CHANGE"];

const RecordsFindClientsQuery = graphql(`
  query StaffRecordsFindClients($query: String!) {
    searchClients(query: $query, first: 10) { nodes { email client { id name } } }
  }
`);

const RecordsQuery = graphql(`
  query StaffRegulatorRecords($kind: RegulatorRecordKind!, $filter: RegulatorRecordFilter, $first: Int, $after: String, $last: Int, $before: String) {
    regulatorRecords(kind: $kind, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes {
        __typename
        ... on BalanceAdjustmentRecord { occurredAt amount currency adjustmentStatus: status reason }
        ... on CommunicationRecord { occurredAt commKind: kind direction subject body }
        ... on CommissionLineRecord { occurredAt amount currency formula lineKind: kind }
        ... on IbRelationshipRecord { occurredAt record relationStatus: status }
        ... on LeverageChangeRecord { occurredAt login fromLeverage requestedLeverage leverageStatus: status }
      }
    }
  }
`);

const ExportMutation = graphql(`
  mutation StaffRegulatorRecordsExport($kind: RegulatorRecordKind!, $format: RecordExportFormat!, $filter: RegulatorRecordFilter) {
    regulatorRecordsExportLink(kind: $kind, format: $format, filter: $filter) { link { url expiresAt } errors { field message code } }
  }
`);

interface Filter { clientId?: string; from?: string; to?: string }

/** A yyyy-mm-dd day as the instant it starts (UTC). */
function dayStart(day: string): string | undefined {
  return /^\d{4}-\d{2}-\d{2}$/.test(day) ? `${day}T00:00:00Z` : undefined;
}

export function Records() {
  const { t, dateTime } = useI18n();
  const [kind, setKind] = useState<RegulatorRecordKind>("BALANCE_ADJUSTMENT");
  const [search, setSearch] = useState("");
  const [query, setQuery] = useState("");
  const [found] = useQuery({ query: RecordsFindClientsQuery, variables: { query }, pause: !query });
  const [clientId, setClientId] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [applied, setApplied] = useState<{ kind: RegulatorRecordKind; filter: Filter } | null>(null);
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [records] = useQuery({ query: RecordsQuery, variables: { kind: applied?.kind ?? kind, filter: applied?.filter, ...cursor }, pause: !applied });
  const [, exportLink] = useMutation(ExportMutation);
  const [link, setLink] = useState<{ url: string; name: string } | null>(null);
  const errors = useFormErrors(["kind", "clientId", "from", "to", "format"]);

  const filterNow = (): Filter => ({ clientId: clientId || undefined, from: dayStart(from), to: dayStart(to) });

  const show = (event: React.FormEvent) => {
    event.preventDefault();
    errors.clear();
    setLink(null);
    setCursor({ first: PAGE });
    setApplied({ kind, filter: filterNow() });
  };

  const doExport = async (format: RecordExportFormat) => {
    setLink(null);
    const result = await exportLink({ kind, format, filter: filterNow() });
    const payload = result.data?.regulatorRecordsExportLink;
    if (!payload?.link || payload.errors.length > 0) {
      errors.set(errorsOf(payload, result.error));
      return;
    }
    errors.clear();
    setLink({ url: payload.link.url, name: `${kind.toLowerCase()}.${format.toLowerCase()}` });
  };

  const serverErrors = records.error?.graphQLErrors.map((e) => ({
    field: (e.extensions?.field as string | undefined) ?? null, message: e.message, code: String(e.extensions?.code ?? ""),
  }));

  return (
    <>
      <PageTitle>{t("rec.title")}</PageTitle>
      <section className="card" aria-labelledby="rec-q-h">
        <h2 id="rec-q-h">{t("rec.choose")}</h2>
        <form onSubmit={(e) => { e.preventDefault(); setQuery(search.trim()); setClientId(""); }} noValidate>
          <TextField label={t("adj.findClient")} name="clientSearch" value={search} onChange={(e) => setSearch(e.target.value)} hint={t("rec.findHint")} />
          <button type="submit" className="secondary">{t("adj.find")}</button>
        </form>
        {found.error ? <QueryError error={found.error} /> : null}
        <form onSubmit={show} noValidate>
          <FormAlert errors={errors} />
          <SelectField label={t("rec.kind")} name="kind" errors={errors} value={kind} onChange={(e) => setKind(e.target.value as RegulatorRecordKind)}>
            {KINDS.map((k) => <option key={k} value={k}>{t(`rec.kind.${k}`)}</option>)}
          </SelectField>
          <SelectField label={t("rec.client")} name="clientId" errors={errors} value={clientId} onChange={(e) => setClientId(e.target.value)}>
            <option value="">{t("rec.anyClient")}</option>
            {(found.data?.searchClients.nodes ?? []).map((n) => <option key={n.client.id} value={n.client.id}>{`${n.client.name || n.email} (${n.email})`}</option>)}
          </SelectField>
          <TextField label={t("rec.from")} name="from" type="date" errors={errors} value={from} onChange={(e) => setFrom(e.target.value)} />
          <TextField label={t("rec.to")} name="to" type="date" errors={errors} value={to} onChange={(e) => setTo(e.target.value)} hint={t("rec.toHint")} />
          <div className="actions">
            <button type="submit">{t("rec.show")}</button>
            <button type="button" className="secondary" onClick={() => void doExport("CSV")}>{t("rec.exportCsv")}</button>
            <button type="button" className="secondary" onClick={() => void doExport("XLSX")}>{t("rec.exportXlsx")}</button>
          </div>
        </form>
        {link ? <p><a href={link.url} download={link.name} data-testid="rec-download">{t("rec.download", { name: link.name })}</a></p> : null}
      </section>
      {applied ? (
        <section className="card" aria-labelledby="rec-list-h">
          <h2 id="rec-list-h">{t(`rec.kind.${applied.kind}`)}</h2>
          {serverErrors && !records.data ? <div role="alert" className="alert alert-error">{serverErrors.map((e, i) => <p key={i} data-code={e.code}>{e.message}</p>)}</div> : null}
          {records.fetching && !records.data ? <Loading /> : null}
          {records.data ? (records.data.regulatorRecords.nodes.length === 0 ? <p>{t("rec.none")}</p> : (
            <>
              <div className="table-wrap" tabIndex={0} role="region" aria-label={t(`rec.kind.${applied.kind}`)}>
                <table data-testid="rec-table">
                  <caption className="sr-only">{t(`rec.kind.${applied.kind}`)}</caption>
                  <thead><tr><th scope="col">{t("rec.when")}</th><th scope="col">{t("rec.what")}</th><th scope="col" className="num">{t("payment.amount")}</th></tr></thead>
                  <tbody>
                    {records.data.regulatorRecords.nodes.map((r, i) => (
                      <tr key={i}>
                        <th scope="row">{dateTime(r.occurredAt)}</th>
                        <td>{describe(r, t)}</td>
                        <td className="num">{"amount" in r && "currency" in r ? <Money amount={r.amount} currency={r.currency} /> : "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager info={records.data.regulatorRecords.pageInfo} size={PAGE} onPage={setCursor} label={t(`rec.kind.${applied.kind}`)} />
            </>
          )) : null}
        </section>
      ) : null}
    </>
  );
}

type Row = { __typename?: string } & Record<string, unknown>;

function describe(r: Row, t: (key: string, params?: Record<string, string | number>) => string): string {
  switch (r.__typename) {
    case "BalanceAdjustmentRecord": return t("rec.adjustment", { status: String(r.adjustmentStatus), reason: String(r.reason) });
    case "CommunicationRecord": return t("rec.communication", { kind: String(r.commKind), direction: String(r.direction), subject: String(r.subject || r.body) });
    case "CommissionLineRecord": return t("rec.commission", { kind: String(r.lineKind), formula: String(r.formula) });
    case "IbRelationshipRecord": return t("rec.relationship", { record: String(r.record), status: String(r.relationStatus ?? "") });
    case "LeverageChangeRecord": return t("rec.leverage", { login: String(r.login), from: String(r.fromLeverage), to: String(r.requestedLeverage), status: String(r.leverageStatus) });
    default: return "";
  }
}
