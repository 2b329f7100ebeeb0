// Re-screening runs (needs compliance.read; starting one needs compliance.manage): each list import's
// delta run and the full runs (scheduled or started here), newest first, by kind and status, with their
// progress (clients done of the clients eligible when the run started) and figures; read again every
// few seconds while a run is queued or running, so the progress moves without a reload. A list file
// (FtM JSON lines or OFAC XML) is imported here too (compliance.manage): its delta run is listed at once.
import { useEffect, useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, uploadRequest, useFormErrors, useI18n, useSession, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, type Cursor } from "./common";
import { useWho } from "./who";

const PAGE = 20;
const KINDS = ["delta", "full"];
const STATUSES = ["queued", "running", "completed", "failed"];
const POLL_MS = 2_000;

const RunsQuery = graphql(`
  query StaffScreeningRuns($kind: String, $status: String, $first: Int, $after: String, $last: Int, $before: String) {
    screeningRuns(kind: $kind, status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes {
        id databaseId kind trigger status listName listVersion entitiesScreened entitiesRemoved clientsTotal clientsDone
        hitsFound hitsDelisted requestedById createdAt startedAt finishedAt error
      }
    }
  }
`);

const StartRunMutation = graphql(`
  mutation StaffStartFullScreeningRun($listName: String) {
    startFullScreeningRun(listName: $listName) { run { id databaseId status } errors { field message code } }
  }
`);

const ImportListMutation = graphql(`
  mutation StaffImportScreeningList($name: String!, $format: String!, $file: Upload!) {
    importScreeningList(name: $name, format: $format, file: $file) {
      screeningList { name version entityCount added changed removed screeningRunId }
      errors { field message code }
    }
  }
`);

type ImportAnswer = { importScreeningList: { screeningList: { name: string; version: string; added: number; changed: number; removed: number } | null; errors: FieldError[] } };

export function ScreeningRuns() {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [filters, setFilters] = useState({ kind: "", status: "" });
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: RunsQuery, variables: { ...cursor, kind: filters.kind || null, status: filters.status || null } });
  const nodes = data?.screeningRuns.nodes ?? [];
  const who = useWho(nodes.map((r) => r.requestedById));
  const busy = nodes.some((r) => r.status === "queued" || r.status === "running");
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => refetch({ requestPolicy: "network-only" }), POLL_MS);
    return () => clearInterval(timer);
  }, [busy, refetch]);
  if (error && !data) return <QueryError error={error} title={t("runs.title")} />;
  const set = (next: Partial<typeof filters>) => { setFilters({ ...filters, ...next }); setCursor({ first: PAGE }); };
  return (
    <>
      <PageTitle>{t("runs.title")}</PageTitle>
      {viewer?.permissions.includes("compliance.manage") ? <>
        <StartRun onStarted={() => { setCursor({ first: PAGE }); refetch({ requestPolicy: "network-only" }); }} />
        <ImportList onImported={() => { setCursor({ first: PAGE }); refetch({ requestPolicy: "network-only" }); }} />
      </> : null}
      <section className="card" aria-labelledby="runs-h">
        <h2 id="runs-h">{t("runs.list")}</h2>
        <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("runs.filters")}>
          <SelectField label={t("runs.kind")} name="kind" value={filters.kind} onChange={(e) => set({ kind: e.target.value })}>
            <option value="">{t("runs.any")}</option>
            {KINDS.map((k) => <option key={k} value={k}>{t(`runs.kind.${k}`)}</option>)}
          </SelectField>
          <SelectField label={t("runs.status")} name="status" value={filters.status} onChange={(e) => set({ status: e.target.value })}>
            <option value="">{t("runs.any")}</option>
            {STATUSES.map((s) => <option key={s} value={s}>{t(`runs.status.${s}`)}</option>)}
          </SelectField>
        </form>
        {fetching && !data ? <Loading /> : null}
        {data ? (nodes.length === 0 ? <p>{t("runs.none")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("runs.list")}>
              <table data-testid="screening-runs">
                <caption className="sr-only">{t("runs.list")}</caption>
                <thead><tr>
                  <th scope="col">{t("runs.run")}</th><th scope="col">{t("runs.kind")}</th><th scope="col">{t("runs.list.name")}</th>
                  <th scope="col">{t("runs.status")}</th><th scope="col">{t("runs.progress")}</th><th scope="col" className="num">{t("runs.hits")}</th>
                  <th scope="col" className="num">{t("runs.delisted")}</th><th scope="col">{t("runs.started")}</th>
                </tr></thead>
                <tbody>{nodes.map((r) => (
                  <tr key={r.id} data-testid={`screening-run-${r.databaseId}`}>
                    <th scope="row">{t("runs.runNo", { id: r.databaseId })}</th>
                    <td>{t(`runs.kind.${r.kind}`)} <span className="muted">({t(`runs.trigger.${r.trigger}`)}{r.requestedById ? `, ${who(r.requestedById)}` : ""})</span></td>
                    <td>{r.listName ? `${r.listName}${r.listVersion ? ` ${r.listVersion}` : ""}` : t("runs.everyList")}
                      {r.kind === "delta" ? <span className="muted"> · {t("runs.entities", { screened: String(r.entitiesScreened), removed: String(r.entitiesRemoved) })}</span> : null}</td>
                    <td><span className="status" data-testid="screening-run-status">{t(`runs.status.${r.status}`)}</span>{r.error ? <span className="field-error"> {r.error}</span> : null}</td>
                    <td>
                      <progress max={Math.max(r.clientsTotal, 1)} value={r.clientsTotal === 0 && r.status === "completed" ? 1 : r.clientsDone}
                        aria-label={t("runs.progressOf", { id: r.databaseId })} />{" "}
                      <span data-testid="screening-run-progress">{t("runs.clients", { done: String(r.clientsDone), total: String(r.clientsTotal) })}</span>
                    </td>
                    <td className="num">{r.hitsFound}</td>
                    <td className="num">{r.hitsDelisted}</td>
                    <td>{dateTime(r.startedAt ?? r.createdAt)}{r.finishedAt ? <span className="muted"> → {dateTime(r.finishedAt)}</span> : null}</td>
                  </tr>
                ))}</tbody>
              </table>
            </div>
            <Pager info={data.screeningRuns.pageInfo} size={PAGE} onPage={setCursor} label={t("runs.list")} />
          </>
        )) : null}
      </section>
    </>
  );
}

function StartRun({ onStarted }: { onStarted: () => void }) {
  const { t } = useI18n();
  const [, start] = useMutation(StartRunMutation);
  const [listName, setListName] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["listName"]);
  return (
    <section className="card" aria-labelledby="runs-start-h">
      <h2 id="runs-start-h">{t("runs.start")}</h2>
      <form className="filters" noValidate onSubmit={async (e) => {
        e.preventDefault();
        const r = await start({ listName: listName.trim() || null });
        const payload = r.data?.startFullScreeningRun;
        if (!payload?.run || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); setNotice(null); return; }
        errors.clear();
        setNotice(t("runs.queued", { id: payload.run.databaseId }));
        onStarted();
      }}>
        <TextField label={t("runs.listName")} name="listName" errors={errors} hint={t("runs.listNameHint")} value={listName} onChange={(e) => setListName(e.target.value)} />
        <button type="submit">{t("runs.startFull")}</button>
      </form>
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
    </section>
  );
}

/** A sanctions/PEP list file loaded as a new version of the named list (multipart upload). */
function ImportList({ onImported }: { onImported: () => void }) {
  const { t } = useI18n();
  const [form, setForm] = useState({ name: "", format: "ftm" });
  const [file, setFile] = useState<File | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["name", "format", "file"]);
  return (
    <section className="card" aria-labelledby="runs-import-h">
      <h2 id="runs-import-h">{t("runs.import")}</h2>
      <form className="filters" noValidate onSubmit={async (e) => {
        e.preventDefault();
        if (!file) { errors.set([{ field: "file", message: t("runs.chooseFile"), code: "VALIDATION_FAILED" }]); setNotice(null); return; }
        const r = await uploadRequest<ImportAnswer>("/graphql", ImportListMutation, { name: form.name.trim(), format: form.format }, { file })
          .catch((error: Error) => ({ data: undefined, errors: [{ message: error.message }] }));
        const payload = r.data?.importScreeningList;
        if (!payload?.screeningList || payload.errors.length > 0) { errors.set(errorsOf(payload, r.errors?.[0])); setNotice(null); return; }
        errors.clear();
        const l = payload.screeningList;
        setNotice(t("runs.imported", { name: l.name, version: l.version, added: l.added, changed: l.changed, removed: l.removed }));
        onImported();
      }}>
        <TextField label={t("runs.importName")} name="name" errors={errors} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
        <SelectField label={t("runs.format")} name="format" errors={errors} value={form.format} onChange={(e) => setForm({ ...form, format: e.target.value })}>
          <option value="ftm">{t("runs.format.ftm")}</option><option value="ofac">{t("runs.format.ofac")}</option>
        </SelectField>
        <TextField label={t("runs.file")} name="file" type="file" errors={errors} onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        <button type="submit">{t("runs.importButton")}</button>
      </form>
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
    </section>
  );
}
