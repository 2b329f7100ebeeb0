// Bank statements (reconciliation.manage): a segregated client bank account's camt.053 statement uploaded
// (v02 or v08, a GraphQL multipart request; the API validates it against the XSD and refuses a malformed or
// repeated file beside the field), the imported statements newest first with their booked balances, one
// statement's entries as the bank booked them with the payment reference each was matched by, and the bank
// section's breaks of a run (the entries the ledger lacks, the wire postings the bank lacks).
import { useState } from "react";
import { useQuery } from "urql";
import { FormAlert, Loading, Money, Notice, PageTitle, TextField, errorsOf, uploadRequest, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { StaffImportClientMoneyStatementMutation } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 10;
const ENTRY_PAGE = 25;

const ImportMutation = graphql(`
  mutation StaffImportClientMoneyStatement($file: Upload!) {
    importClientMoneyStatement(file: $file) {
      statements { databaseId iban statementId entryCount version }
      warnings { code currency message }
      errors { field message code }
    }
  }
`);

const StatementsQuery = graphql(`
  query StaffBankStatements($first: Int, $after: String, $last: Int, $before: String) {
    bankStatements(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes {
        databaseId iban statementId version messageId closingDate entryCount importedAt
        balances { type currency amount asOf }
      }
    }
  }
`);

const EntriesQuery = graphql(`
  query StaffBankStatementEntries($statementId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    bankStatementEntries(statementId: $statementId, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { lineNo amount currency status bookingDate bankReference endToEndId remittance paymentReference }
    }
  }
`);

const LatestRunQuery = graphql(`
  query StaffLatestRun { reconciliationRuns(first: 1) { nodes { id databaseId cutoff } } }
`);

const BankBreaksQuery = graphql(`
  query StaffBankBreaks($runId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    reconciliationBreaks(filter: { runId: $runId, section: BANK }, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId kind key currency amountDiff suggestedCause status }
    }
  }
`);

type ImportAnswer = StaffImportClientMoneyStatementMutation;

function Upload({ onImported }: { onImported: (statementId: string) => void }) {
  const { t } = useI18n();
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string[]>([]);
  const errors = useFormErrors(["file"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setNotice([]);
    if (!file) { errors.set([{ field: "file", message: t("bank.chooseFile"), code: "VALIDATION_FAILED" }]); return; }
    setBusy(true);
    const r = await uploadRequest<ImportAnswer>("/graphql", ImportMutation, {}, { file })
      .catch((error: Error) => ({ data: undefined, errors: [{ message: error.message }] }));
    setBusy(false);
    const payload = r.data?.importClientMoneyStatement;
    if (!payload?.statements || payload.errors.length > 0) { errors.set(errorsOf(payload, r.errors?.[0])); return; }
    errors.clear();
    setNotice([
      ...payload.statements.map((s) => t("bank.imported", { id: s.statementId, iban: s.iban, entries: s.entryCount, version: s.version })),
      ...payload.warnings.map((w) => `${w.currency}: ${w.message}`),
    ]);
    if (payload.statements[0]) onImported(payload.statements[0].databaseId);
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="bank-upload-h">
      <h2 id="bank-upload-h">{t("bank.upload")}</h2>
      <FormAlert errors={errors} />
      {notice.length > 0 ? <Notice tone="success">{notice.map((n) => <p key={n}>{n}</p>)}</Notice> : null}
      <TextField label={t("bank.file")} name="file" type="file" accept=".xml,application/xml,text/xml" hint={t("bank.fileHint")}
        errors={errors} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      <div className="actions"><button type="submit" disabled={busy}>{t("bank.uploadButton")}</button></div>
      {busy ? <Loading /> : null}
    </form>
  );
}

export function BankStatements() {
  const { t, dateTime, date } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: StatementsQuery, variables: cursor });
  const [selected, setSelected] = useState<string | null>(null);
  if (error && !data) return <QueryError error={error} title={t("bank.title")} />;
  return (
    <>
      <PageTitle>{t("bank.title")}</PageTitle>
      <Upload onImported={(id) => { setSelected(id); setCursor({ first: PAGE }); refetch({ requestPolicy: "network-only" }); }} />
      <section className="card" aria-labelledby="bank-list-h">
        <h2 id="bank-list-h">{t("bank.statements")}</h2>
        {fetching && !data ? <Loading /> : null}
        {data ? (data.bankStatements.nodes.length === 0 ? <p>{t("bank.none")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("bank.statements")}>
              <table data-testid="bank-statements">
                <thead><tr>
                  <th scope="col">{t("bank.statementId")}</th><th scope="col">{t("bank.iban")}</th><th scope="col">{t("bank.version")}</th>
                  <th scope="col">{t("bank.closing")}</th><th scope="col">{t("bank.balances")}</th>
                  <th scope="col" className="num">{t("bank.entries")}</th><th scope="col">{t("bank.importedAt")}</th>
                  <th scope="col"><span className="sr-only">{t("recon.actions")}</span></th>
                </tr></thead>
                <tbody>
                  {data.bankStatements.nodes.map((s) => (
                    <tr key={s.databaseId}>
                      <th scope="row">{s.statementId}</th>
                      <td><code>{s.iban}</code></td>
                      <td>{s.version}</td>
                      <td>{s.closingDate ? date(s.closingDate) : "—"}</td>
                      <td>{s.balances.map((b) => (
                        <span key={`${b.type}${b.currency}`} className="nowrap">{t(`bank.balance.${b.type}`)} <Money amount={b.amount} currency={b.currency} /> </span>
                      ))}</td>
                      <td className="num">{s.entryCount}</td>
                      <td>{dateTime(s.importedAt)}</td>
                      <td><button type="button" className="secondary" aria-label={t("bank.showEntriesOf", { id: s.statementId })}
                        aria-pressed={selected === s.databaseId} onClick={() => setSelected(s.databaseId)}>{t("bank.showEntries")}</button></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager info={data.bankStatements.pageInfo} size={PAGE} onPage={setCursor} label={t("bank.statements")} />
          </>
        )) : null}
      </section>
      {selected ? <Entries statementId={selected} label={data?.bankStatements.nodes.find((s) => s.databaseId === selected)?.statementId ?? selected} /> : null}
      <BankBreaks />
    </>
  );
}

function Entries({ statementId, label }: { statementId: string; label: string }) {
  const { t, date } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: ENTRY_PAGE });
  const [{ data, error, fetching }] = useQuery({ query: EntriesQuery, variables: { statementId, ...cursor } });
  const title = t("bank.entriesOf", { id: label });
  return (
    <section className="card" aria-labelledby="bank-entries-h" data-testid="bank-entries">
      <h2 id="bank-entries-h">{title}</h2>
      <QueryError error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <thead><tr>
                <th scope="col" className="num">#</th><th scope="col">{t("bank.booked")}</th><th scope="col" className="num">{t("bank.amount")}</th>
                <th scope="col">{t("bank.status")}</th><th scope="col">{t("bank.bankRef")}</th><th scope="col">{t("bank.remittance")}</th>
                <th scope="col">{t("bank.matchedBy")}</th>
              </tr></thead>
              <tbody>
                {data.bankStatementEntries.nodes.map((e) => (
                  <tr key={e.lineNo}>
                    <th scope="row" className="num">{e.lineNo}</th>
                    <td>{e.bookingDate ? date(e.bookingDate) : "—"}</td>
                    <td className="num"><Money amount={e.amount} currency={e.currency} /></td>
                    <td>{t(`bank.entryStatus.${e.status}`)}</td>
                    <td><code>{e.bankReference ?? "—"}</code></td>
                    <td>{e.remittance || e.endToEndId || "—"}</td>
                    <td>{e.paymentReference ? <code>{e.paymentReference}</code> : <span className="status">{t("bank.noReference")}</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.bankStatementEntries.pageInfo} size={ENTRY_PAGE} onPage={setCursor} label={title} />
        </>
      ) : null}
    </section>
  );
}

/** The latest run's bank-section breaks: what the statements and the ledger's wire postings disagree on. */
function BankBreaks() {
  const { t, dateTime } = useI18n();
  const [{ data: latest }] = useQuery({ query: LatestRunQuery, requestPolicy: "cache-and-network" });
  const run = latest?.reconciliationRuns.nodes[0];
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error }] = useQuery({ query: BankBreaksQuery, variables: { runId: run?.id ?? "", ...cursor }, pause: !run });
  const title = run ? t("bank.breaksOf", { id: run.databaseId, cutoff: dateTime(run.cutoff) }) : t("bank.breaks");
  return (
    <section className="card" aria-labelledby="bank-breaks-h">
      <h2 id="bank-breaks-h">{title}</h2>
      <QueryError error={error} />
      {!latest ? <Loading /> : !run ? <p>{t("recon.noRuns")}</p> : data ? (data.reconciliationBreaks.nodes.length === 0 ? <p>{t("recon.noBreaks")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <thead><tr>
                <th scope="col">{t("recon.kind")}</th><th scope="col">{t("recon.key")}</th><th scope="col" className="num">{t("recon.diff")}</th>
                <th scope="col">{t("recon.cause")}</th><th scope="col">{t("recon.status")}</th>
              </tr></thead>
              <tbody>
                {data.reconciliationBreaks.nodes.map((b) => (
                  <tr key={b.id}>
                    <td>{t(`recon.kind.${b.kind}`)}</td>
                    <th scope="row"><code>{b.key}</code></th>
                    <td className="num">{b.amountDiff && b.currency ? <Money amount={b.amountDiff} currency={b.currency} /> : (b.amountDiff ?? "—")}</td>
                    <td>{b.suggestedCause}</td>
                    <td>{t(`recon.breakStatus.${b.status}`)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.reconciliationBreaks.pageInfo} size={PAGE} onPage={setCursor} label={title} />
        </>
      )) : <Loading />}
    </section>
  );
}
