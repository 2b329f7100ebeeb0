// Reconciliation (needs reconciliation.manage): a PSP's settlement report imported (the CSV finance
// downloads from the provider; the next run matches its lines against the ledger); the runs, newest first, each with what it matched and
// how many breaks it found per section; start a run as of a cutoff (empty: the latest midnight UTC;
// re-running a cutoff updates its breaks in place); a run's breaks with each side's difference and the
// suggested cause, filtered by status; a break worked on: its evidence and comments, taken (assigned to
// oneself), commented on, or closed with the adjustment entry that fixed it or an explanation.
// Client money (CASS 7): the segregated bank / PSP balances recorded per day's close, and a run's
// per-currency requirement vs resource with its sign-off by the signed-in staff member.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Money, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n, useSession, useStepUp, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { BreakStatus, StaffReconciliationBreaksQuery } from "../gql/graphql";
import { Pager, QueryError, databaseIdOf, type Cursor } from "./common";

const PAGE = 10;
const BREAK_STATUSES: BreakStatus[] = ["OPEN", "RESOLVED", "EXPLAINED", "CLEARED"];

const RunsQuery = graphql(`
  query StaffReconciliationRuns($first: Int, $after: String, $last: Int, $before: String) {
    reconciliationRuns(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes {
        id databaseId cutoff windowStart status durationMs startedAt finishedAt
        summary { matched breaks openBreaks sections { section matched breaks } }
      }
    }
  }
`);

const BreaksQuery = graphql(`
  query StaffReconciliationBreaks($filter: ReconciliationBreakFilter, $first: Int, $after: String, $last: Int, $before: String) {
    reconciliationBreaks(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes {
        id databaseId section kind key currency amountDiff suggestedCause status createdAt
        evidence assigneeStaffUserId explanation comments { id text createdAt }
      }
    }
  }
`);

const AssignBreakMutation = graphql(`
  mutation StaffAssignBreak($id: ID!, $userId: ID!) {
    assignBreak(id: $id, userId: $userId) { reconciliationBreak { id assigneeStaffUserId } errors { field message code } }
  }
`);

const CommentOnBreakMutation = graphql(`
  mutation StaffCommentOnBreak($id: ID!, $text: String!) {
    commentOnBreak(id: $id, text: $text) { comment { id text createdAt } errors { field message code } }
  }
`);

const ResolveBreakMutation = graphql(`
  mutation StaffResolveBreak($id: ID!, $resolution: BreakResolutionInput!) {
    resolveBreak(id: $id, resolution: $resolution) { reconciliationBreak { id status explanation resolvedAt } errors { field message code } }
  }
`);

const RunMutation = graphql(`
  mutation StaffRunReconciliation($cutoff: DateTime) {
    runReconciliation(cutoff: $cutoff) {
      run { id databaseId cutoff status summary { matched breaks openBreaks } }
      errors { field message code }
    }
  }
`);

const ClientMoneyQuery = graphql(`
  query StaffClientMoney($id: ID!) {
    reconciliationRun(id: $id) {
      id databaseId
      clientMoney { currency kind closeDate clients negativeClients walletBalances tradingEquity negativeFloored requirement bankBalances pspBalances resource difference }
      clientMoneySignOff { signedByStaffUserId signedAt note openBreaks }
    }
  }
`);

const RecordResourceMutation = graphql(`
  mutation StaffRecordClientMoneyResource($input: ClientMoneyResourceInput!) {
    recordClientMoneyResource(input: $input) {
      resource { databaseId asOf kind account currency balance }
      errors { field message code }
    }
  }
`);

const SignOffMutation = graphql(`
  mutation StaffSignOffClientMoney($runId: ID!, $note: String) {
    signOffClientMoney(runId: $runId, note: $note) {
      signOff { signedAt note openBreaks }
      errors { field message code }
    }
  }
`);

const ImportReportMutation = graphql(`
  mutation StaffImportSettlementReport($provider: String!, $csv: String!) {
    importSettlementReport(provider: $provider, csv: $csv) {
      report { id databaseId provider lineCount replayed }
      errors { field message code }
    }
  }
`);

/** Upload of a provider's settlement report: the file is read in the browser and sent as the `csv` argument. */
function ImportReport() {
  const { t } = useI18n();
  const [, importReport] = useMutation(ImportReportMutation);
  const [provider, setProvider] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["provider", "csv"]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    const missing: FieldError[] = [];
    if (!provider.trim()) missing.push({ field: "provider", message: t("recon.nameProvider"), code: "VALIDATION_FAILED" });
    if (!file) missing.push({ field: "csv", message: t("recon.chooseFile"), code: "VALIDATION_FAILED" });
    if (missing.length > 0 || !file) {
      errors.set(missing);
      return;
    }
    setBusy(true);
    const result = await importReport({ provider: provider.trim(), csv: await file.text() });
    setBusy(false);
    const payload = result.data?.importSettlementReport;
    errors.set(errorsOf(payload, result.error));
    if (payload?.report) {
      const r = payload.report;
      setDone(t(r.replayed ? "recon.imported.again" : "recon.imported", { id: r.databaseId, provider: r.provider, lines: String(r.lineCount) }));
    }
  };

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="recon-import-h">
      <h2 id="recon-import-h">{t("recon.import")}</h2>
      <FormAlert errors={errors} />
      {done ? <Notice tone="success">{done}</Notice> : null}
      <TextField label={t("recon.provider")} name="provider" hint={t("recon.providerHint")} required
        value={provider} onChange={(e) => setProvider(e.target.value)} errors={errors} />
      <TextField label={t("recon.reportFile")} name="csv" type="file" accept=".csv,text/csv" hint={t("recon.reportHint")}
        onChange={(e) => setFile(e.target.files?.[0] ?? null)} errors={errors} />
      <div className="actions"><button type="submit" disabled={busy}>{t("recon.importButton")}</button></div>
      {busy ? <Loading /> : null}
    </form>
  );
}

/** A datetime-local value ("2026-12-04T15:30") read in the browser's zone, as an ISO instant; null when empty or unreadable. */
function cutoffOf(local: string): string | null {
  if (!local.trim()) return null;
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

export function Reconciliation() {
  const { t, dateTime } = useI18n();
  const withStepUp = useStepUp();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: RunsQuery, variables: cursor });
  const [, run] = useMutation(RunMutation);
  const [cutoff, setCutoff] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [selected, setSelected] = useState<{ id: string; label: string } | null>(null);
  const errors = useFormErrors(["cutoff"]);

  if (error && !data) return <QueryError error={error} title={t("recon.title")} />;

  const start = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    const at = cutoffOf(cutoff);
    if (cutoff.trim() && !at) {
      errors.set([{ field: "cutoff", message: t("recon.badCutoff"), code: "INVALID_CUTOFF" }]);
      return;
    }
    setBusy(true);
    const payload = await withStepUp(async () => (await run({ cutoff: at })).data?.runReconciliation);
    setBusy(false);
    if (!payload) {
      errors.set([{ field: null, message: "error", code: "INTERNAL_SERVER_ERROR" }]);
      return;
    }
    if (payload.errors.length > 0 || !payload.run) {
      errors.set(payload.errors);
      return;
    }
    errors.clear();
    const r = payload.run;
    setDone(t("recon.done", { id: r.databaseId, cutoff: dateTime(r.cutoff), matched: String(r.summary.matched), breaks: String(r.summary.breaks) }));
    setSelected({ id: r.id, label: r.databaseId });
    setCursor({ first: PAGE });
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <>
      <PageTitle>{t("recon.title")}</PageTitle>
      <ImportReport />
      <form className="card" onSubmit={start} noValidate aria-labelledby="recon-start-h">
        <h2 id="recon-start-h">{t("recon.start")}</h2>
        <FormAlert errors={errors} />
        {done ? <Notice tone="success">{done}</Notice> : null}
        <TextField label={t("recon.cutoff")} name="cutoff" type="datetime-local" step={1} hint={t("recon.cutoffHint")}
          value={cutoff} onChange={(e) => setCutoff(e.target.value)} errors={errors} />
        <div className="actions">
          <button type="submit" disabled={busy}>{t("recon.run")}</button>
          <button type="button" className="secondary" disabled={busy}
            onClick={() => { const now = new Date(); now.setMilliseconds(0); setCutoff(localValue(now)); }}>{t("recon.now")}</button>
        </div>
        {busy ? <Loading /> : null}
      </form>
      <section className="card" aria-labelledby="recon-runs-h">
        <h2 id="recon-runs-h">{t("recon.runs")}</h2>
        {fetching && !data ? <Loading /> : null}
        {data ? (data.reconciliationRuns.nodes.length === 0 ? <p>{t("recon.noRuns")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("recon.runs")}>
              <table data-testid="recon-runs">
                <caption className="sr-only">{t("recon.runs")}</caption>
                <thead><tr>
                  <th scope="col">{t("recon.run#")}</th><th scope="col">{t("recon.cutoff")}</th><th scope="col">{t("recon.status")}</th>
                  <th scope="col" className="num">{t("recon.matched")}</th><th scope="col" className="num">{t("recon.breaks")}</th>
                  <th scope="col" className="num">{t("recon.open")}</th><th scope="col">{t("recon.sections")}</th>
                  <th scope="col"><span className="sr-only">{t("recon.actions")}</span></th>
                </tr></thead>
                <tbody>
                  {data.reconciliationRuns.nodes.map((r) => (
                    <tr key={r.id} data-testid={`recon-run-${r.databaseId}`}>
                      <th scope="row">{r.databaseId}</th>
                      <td>{dateTime(r.cutoff)}</td>
                      <td>{r.status}</td>
                      <td className="num">{r.summary.matched}</td>
                      <td className="num" data-testid="recon-breaks">{r.summary.breaks}</td>
                      <td className="num">{r.summary.openBreaks}</td>
                      <td>{r.summary.sections.map((s) => t("recon.sectionCount", { section: t(`recon.section.${s.section}`), matched: String(s.matched), breaks: String(s.breaks) })).join("; ")}</td>
                      <td>
                        {r.summary.breaks === 0 ? <span className="status">{t("recon.clean")}</span> : (
                          <button type="button" className="secondary" aria-label={t("recon.showBreaksOf", { id: r.databaseId })}
                            onClick={() => setSelected({ id: r.id, label: r.databaseId })}>{t("recon.showBreaks")}</button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager info={data.reconciliationRuns.pageInfo} size={PAGE} onPage={setCursor} label={t("recon.runs")} />
          </>
        )) : null}
      </section>
      <RecordResource />
      {selected ? <ClientMoney runId={selected.id} label={selected.label} /> : null}
      {selected ? <Breaks runId={selected.id} label={selected.label} /> : null}
    </>
  );
}

/** A segregated client-money balance from a bank or PSP statement, for one day's close. */
function RecordResource() {
  const { t } = useI18n();
  const [, record] = useMutation(RecordResourceMutation);
  const [form, setForm] = useState({ asOf: "", kind: "BANK", account: "", currency: "", balance: "" });
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["asOf", "account", "currency", "balance"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    const input = { ...form, kind: form.kind === "PSP" ? "PSP" as const : "BANK" as const };
    const payload = (await record({ input })).data?.recordClientMoneyResource;
    if (!payload) { errors.set([{ field: null, message: "error", code: "INTERNAL_SERVER_ERROR" }]); return; }
    if (payload.errors.length > 0 || !payload.resource) { errors.set(payload.errors); return; }
    errors.clear();
    setDone(`${payload.resource.asOf} ${payload.resource.kind} ${payload.resource.account}: ${payload.resource.balance} ${payload.resource.currency}`);
  };
  const field = (name: "asOf" | "account" | "currency" | "balance", label: string, type = "text") => (
    <TextField label={label} name={name} type={type} value={form[name]} errors={errors}
      onChange={(e) => setForm({ ...form, [name]: e.target.value })} />
  );
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="recon-cm-record-h">
      <h2 id="recon-cm-record-h">{t("cm.recordTitle")}</h2>
      <FormAlert errors={errors} />
      {done ? <Notice tone="success">{done}</Notice> : null}
      {field("asOf", t("cm.asOf"), "date")}
      <label>{t("cm.heldAt")}
        <select name="kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value })}>
          <option value="BANK">{t("cm.bank")}</option><option value="PSP">{t("cm.psp")}</option>
        </select>
      </label>
      {field("account", t("cm.account"))}
      {field("currency", t("cm.currency"))}
      {field("balance", t("cm.balance"))}
      <div className="actions"><button type="submit">{t("cm.record")}</button></div>
    </form>
  );
}

/** A run's client-money lines (requirement vs resource per currency) and their sign-off (four eyes: the API
 * refuses whoever prepared the close; that refusal names the run and is shown beside the sign-off button). */
export function ClientMoney({ runId, label }: { runId: string; label: string }) {
  const { t, dateTime } = useI18n();
  const [{ data, error }, refetch] = useQuery({ query: ClientMoneyQuery, variables: { id: runId } });
  const [, signOff] = useMutation(SignOffMutation);
  const [note, setNote] = useState("");
  const errors = useFormErrors(["note", "runId"]);
  const refusal = errors.of("runId");
  if (error && !data) return <QueryError error={error} title={t("recon.section.CLIENT_MONEY")} />;
  const run = data?.reconciliationRun;
  if (!run) return <Loading />;
  const sign = async (event: React.FormEvent) => {
    event.preventDefault();
    const payload = (await signOff({ runId, note: note.trim() || null })).data?.signOffClientMoney;
    if (!payload) { errors.set([{ field: null, message: "error", code: "INTERNAL_SERVER_ERROR" }]); return; }
    if (payload.errors.length > 0) { errors.set(payload.errors); return; }
    errors.clear();
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="recon-cm-h" data-testid="recon-client-money">
      <h2 id="recon-cm-h">{t("cm.title", { id: label })}</h2>
      {run.clientMoney.length === 0 ? <p>{t("cm.none")}</p> : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label={t("recon.section.CLIENT_MONEY")}>
          <table>
            <thead><tr>
              <th scope="col">{t("cm.currency")}</th><th scope="col">{t("cm.close")}</th><th scope="col" className="num">{t("cm.wallets")}</th>
              <th scope="col" className="num">{t("cm.equity")}</th><th scope="col" className="num">{t("cm.floored")}</th>
              <th scope="col" className="num">{t("cm.requirement")}</th><th scope="col" className="num">{t("cm.bank")}</th>
              <th scope="col" className="num">{t("cm.psp")}</th><th scope="col" className="num">{t("cm.resource")}</th>
              <th scope="col" className="num">{t("cm.difference")}</th><th scope="col">{t("cm.result")}</th>
            </tr></thead>
            <tbody>
              {run.clientMoney.map((l) => (
                <tr key={l.currency}>
                  <th scope="row">{l.currency}</th><td>{l.closeDate}</td><td className="num">{l.walletBalances}</td>
                  <td className="num">{l.tradingEquity}</td><td className="num">{l.negativeFloored} ({l.negativeClients})</td>
                  <td className="num">{l.requirement}</td><td className="num">{l.bankBalances}</td>
                  <td className="num">{l.pspBalances}</td><td className="num">{l.resource}</td>
                  <td className="num">{l.difference}</td><td>{l.kind === "matched" ? t("recon.clean") : t(`recon.kind.${l.kind.toUpperCase()}`)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {run.clientMoneySignOff ? (
        <p data-testid="recon-cm-signed">{t("cm.signed", { at: dateTime(run.clientMoneySignOff.signedAt), open: String(run.clientMoneySignOff.openBreaks),
          note: run.clientMoneySignOff.note ? `: ${run.clientMoneySignOff.note}` : "" })}</p>
      ) : run.clientMoney.length > 0 ? (
        <form onSubmit={sign} noValidate>
          <FormAlert errors={errors} />
          <TextField label={t("cm.note")} name="note" value={note} errors={errors} onChange={(e) => setNote(e.target.value)} />
          <div className={`actions${refusal ? " field-invalid" : ""}`}>
            <button type="submit" aria-describedby={refusal ? `cm-signoff-error-${label}` : undefined}>{t("cm.signOff")}</button>
            {refusal ? <p id={`cm-signoff-error-${label}`} className="field-error" data-code={refusal.code}>{refusal.message}</p> : null}
          </div>
        </form>
      ) : null}
    </section>
  );
}

function localValue(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

function Breaks({ runId, label }: { runId: string; label: string }) {
  const { t, dateTime } = useI18n();
  const [status, setStatus] = useState<BreakStatus | "">("OPEN");
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [working, setWorking] = useState<string | null>(null);
  const [{ data, error, fetching }, refetchBreaks] = useQuery({
    query: BreaksQuery,
    variables: { ...cursor, filter: { runId, status: status === "" ? null : status } },
  });
  const title = t("recon.breaksOf", { id: label });
  return (
    <section className="card" aria-labelledby="recon-breaks-h">
      <h2 id="recon-breaks-h">{title}</h2>
      <div className="filters">
        <div className="field">
          <label htmlFor="recon-status">{t("recon.status")}</label>
          <select id="recon-status" value={status} onChange={(e) => { setStatus(e.target.value as BreakStatus | ""); setCursor({ first: PAGE }); }}>
            <option value="">{t("recon.anyStatus")}</option>
            {BREAK_STATUSES.map((s) => <option key={s} value={s}>{t(`recon.breakStatus.${s}`)}</option>)}
          </select>
        </div>
      </div>
      {fetching && !data ? <Loading /> : null}
      <QueryError error={error} />
      {data ? (data.reconciliationBreaks.nodes.length === 0 ? <p>{t("recon.noBreaks")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <caption className="sr-only">{title}</caption>
              <thead><tr>
                <th scope="col">{t("recon.section")}</th><th scope="col">{t("recon.kind")}</th><th scope="col">{t("recon.key")}</th>
                <th scope="col" className="num">{t("recon.diff")}</th><th scope="col">{t("recon.cause")}</th>
                <th scope="col">{t("recon.status")}</th><th scope="col">{t("recon.found")}</th>
                <th scope="col"><span className="sr-only">{t("recon.actions")}</span></th>
              </tr></thead>
              <tbody>
                {data.reconciliationBreaks.nodes.map((b) => (
                  <tr key={b.id}>
                    <td>{t(`recon.section.${b.section}`)}</td>
                    <td>{t(`recon.kind.${b.kind}`)}</td>
                    <th scope="row"><code>{b.key}</code></th>
                    <td className="num">{b.amountDiff !== null && b.amountDiff !== undefined
                      ? (b.currency ? <Money amount={b.amountDiff} currency={b.currency} /> : <span className="money">{b.amountDiff}</span>)
                      : "—"}</td>
                    <td>{b.suggestedCause}</td>
                    <td>{t(`recon.breakStatus.${b.status}`)}</td>
                    <td>{dateTime(b.createdAt)}</td>
                    <td><button type="button" className="secondary" aria-label={t("recon.workOn", { key: b.key })} aria-expanded={working === b.id}
                      onClick={() => setWorking(working === b.id ? null : b.id)}>{t("recon.work")}</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.reconciliationBreaks.pageInfo} size={PAGE} onPage={setCursor} label={title} />
          {data.reconciliationBreaks.nodes.filter((b) => b.id === working).map((b) => (
            <BreakWork key={b.id} item={b} onChanged={() => refetchBreaks({ requestPolicy: "network-only" })} />
          ))}
        </>
      )) : null}
    </section>
  );
}

type Break = StaffReconciliationBreaksQuery["reconciliationBreaks"]["nodes"][number];
type Payload = { errors: readonly FieldError[] } | null | undefined;

/** One break worked on: evidence, comments, take it, comment, close it (an adjustment entry or an explanation). */
function BreakWork({ item, onChanged }: { item: Break; onChanged: () => void }) {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [, assign] = useMutation(AssignBreakMutation);
  const [, comment] = useMutation(CommentOnBreakMutation);
  const [, resolve] = useMutation(ResolveBreakMutation);
  const [text, setText] = useState("");
  const [explanation, setExplanation] = useState("");
  const [entry, setEntry] = useState("");
  const errors = useFormErrors(["text", "explanation", "adjustmentEntryId", "resolution"]);
  const [notice, setNotice] = useState<string | null>(null);
  const finish = (payload: Payload, transport: { message: string } | undefined, ok: string): boolean => {
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload, transport));
      return false;
    }
    errors.clear();
    setNotice(ok);
    onChanged();
    return true;
  };
  const mine = !!viewer && !!item.assigneeStaffUserId && databaseIdOf(item.assigneeStaffUserId) === viewer.id;
  const open = item.status === "OPEN";
  return (
    <div className="card" data-testid="recon-break-work" aria-labelledby="recon-work-h">
      <h3 id="recon-work-h">{t("recon.workOn", { key: item.key })}</h3>
      <dl className="facts">
        <div><dt>{t("recon.assignee")}</dt><dd>{item.assigneeStaffUserId ? (mine ? t("recon.you") : t("recon.someone")) : t("recon.nobody")}</dd></div>
        {item.explanation ? <div><dt>{t("recon.explanation")}</dt><dd>{item.explanation}</dd></div> : null}
      </dl>
      <details>
        <summary>{t("recon.evidence")}</summary>
        <pre className="evidence">{JSON.stringify(item.evidence, null, 2)}</pre>
      </details>
      {item.comments.length > 0 ? (
        <ul aria-label={t("recon.comments")}>{item.comments.map((c) => <li key={c.id}>{dateTime(c.createdAt)}: {c.text}</li>)}</ul>
      ) : null}
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      {open ? (
        <div className="grid two">
          <form noValidate onSubmit={async (e) => {
            e.preventDefault();
            const r = await comment({ id: item.id, text: text.trim() });
            if (finish(r.data?.commentOnBreak, r.error, t("recon.commented"))) setText("");
          }}>
            <TextField label={t("recon.comment")} name="text" errors={errors} value={text} onChange={(e) => setText(e.target.value)} />
            <div className="actions">
              <button type="submit" className="secondary">{t("recon.addComment")}</button>
              {viewer && !mine ? <button type="button" className="secondary" onClick={async () => {
                const r = await assign({ id: item.id, userId: viewer.id });
                finish(r.data?.assignBreak, r.error, t("recon.taken"));
              }}>{t("recon.take")}</button> : null}
            </div>
          </form>
          <form noValidate onSubmit={async (e) => {
            e.preventDefault();
            const r = await resolve({ id: item.id, resolution: { explanation: explanation.trim() || null, adjustmentEntryId: entry.trim() || null } });
            finish(r.data?.resolveBreak, r.error, t("recon.resolved"));
          }}>
            <TextField label={t("recon.explanation")} name="explanation" errors={errors} value={explanation} onChange={(e) => setExplanation(e.target.value)} />
            <TextField label={t("recon.entry")} name="adjustmentEntryId" errors={errors} value={entry} onChange={(e) => setEntry(e.target.value)} inputMode="numeric" />
            <div className="actions"><button type="submit">{t("recon.resolve")}</button></div>
          </form>
        </div>
      ) : null}
    </div>
  );
}
