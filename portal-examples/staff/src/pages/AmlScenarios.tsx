// Monitoring scenarios (needs compliance.read; changing them needs compliance.manage): the scenarios
// with their live version, a new one started from a template; one scenario: its versions (the draft,
// committed ones, the live one), the draft's rule document edited as JSON (the API checks it node by
// node and each bad node's path and message are shown beside the editor; nothing is kept then), a test
// run of the draft over a period of history beside the live version (what each would have raised),
// committing the draft, and activation with four eyes: one staff member asks for a committed version to
// go live, another (who sees who asked) approves or rejects it.
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, atCurrencyScale, errorsOf, useFormErrors, useI18n, useSession, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { StaffAmlScenarioQuery, StaffAmlTestRunMutation } from "../gql/graphql";
import { Pager, QueryError, databaseIdOf, type Cursor } from "./common";
import { useWho } from "./who";

const PAGE = 25;

const ScenariosQuery = graphql(`
  query StaffAmlScenarios($first: Int, $after: String, $last: Int, $before: String) {
    amlScenarios(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId name description team liveVersionId createdAt draft { id } }
    }
    amlTemplates { key title description document }
  }
`);

const VersionNumbersQuery = graphql(`
  query StaffAmlVersionNumbers($ids: [ID!]!) {
    nodes(ids: $ids) { ... on AmlScenarioVersion { id version } }
  }
`);

const ActivationsQuery = graphql(`
  query StaffAmlActivations($status: AmlActivationStatus, $first: Int, $after: String, $last: Int, $before: String) {
    amlActivationRequests(status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId scenarioId versionId requestedById reason status decidedById decisionReason createdAt decidedAt }
    }
  }
`);

const ScenarioQuery = graphql(`
  query StaffAmlScenario($id: ID!) {
    node(id: $id) {
      ... on AmlScenario {
        id databaseId name description team liveVersionId createdAt
        draft { id databaseId document createdById createdAt }
        versions(first: 50) { nodes { id databaseId version status document createdById createdAt committedAt } }
      }
    }
  }
`);

const CreateMutation = graphql(`
  mutation StaffCreateAmlScenario($name: String!, $document: JSON!, $team: String!, $description: String!) {
    createAmlScenario(name: $name, document: $document, team: $team, description: $description) { scenario { id } errors { field message code } }
  }
`);

const SaveDraftMutation = graphql(`
  mutation StaffSaveAmlDraft($scenarioId: ID!, $document: JSON!) {
    saveAmlDraft(scenarioId: $scenarioId, document: $document) { version { id document } errors { field message code } }
  }
`);

const CommitMutation = graphql(`
  mutation StaffCommitAmlDraft($scenarioId: ID!) {
    commitAmlDraft(scenarioId: $scenarioId) { version { id version } errors { field message code } }
  }
`);

const TestRunMutation = graphql(`
  mutation StaffAmlTestRun($scenarioId: ID!, $since: DateTime!, $until: DateTime!, $document: JSON) {
    runAmlTest(scenarioId: $scenarioId, since: $since, until: $until, document: $document) {
      run {
        evaluated hitsTruncated seconds
        draft { allow review block decline }
        live { allow review block decline }
        hits { paymentId userId at amount currency direction draftScore draftOutcome liveScore liveOutcome draftRules }
      }
      errors { field message code }
    }
  }
`);

const RequestActivationMutation = graphql(`
  mutation StaffRequestAmlActivation($scenarioId: ID!, $version: Int!, $reason: String!) {
    requestAmlActivation(scenarioId: $scenarioId, version: $version, reason: $reason) { request { id databaseId } errors { field message code } }
  }
`);

const ApproveActivationMutation = graphql(`
  mutation StaffApproveAmlActivation($requestId: ID!) {
    approveAmlActivation(requestId: $requestId) { request { id status } errors { field message code } }
  }
`);

const RejectActivationMutation = graphql(`
  mutation StaffRejectAmlActivation($requestId: ID!, $reason: String!) {
    rejectAmlActivation(requestId: $requestId, reason: $reason) { request { id status } errors { field message code } }
  }
`);

const DeactivateMutation = graphql(`
  mutation StaffDeactivateAmlScenario($scenarioId: ID!, $reason: String!) {
    deactivateAmlScenario(scenarioId: $scenarioId, reason: $reason) { scenario { id liveVersionId } errors { field message code } }
  }
`);

type Payload = { errors: readonly FieldError[] } | null | undefined;

function canManage(permissions: string[] | undefined): boolean {
  return !!permissions?.includes("compliance.manage");
}

export function AmlScenarios() {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }] = useQuery({ query: ScenariosQuery, variables: cursor });
  if (error && !data) return <QueryError error={error} title={t("aml.scenariosTitle")} />;
  return (
    <>
      <PageTitle>{t("aml.scenariosTitle")}</PageTitle>
      <p><Link to="/aml/cases">{t("aml.casesTitle")}</Link></p>
      <PendingActivations names={Object.fromEntries((data?.amlScenarios.nodes ?? []).map((s) => [s.id, s.name]))} />
      <section className="card" aria-labelledby="aml-scenarios-h">
        <h2 id="aml-scenarios-h">{t("aml.scenarios")}</h2>
        {fetching && !data ? <Loading /> : null}
        {data ? (data.amlScenarios.nodes.length === 0 ? <p>{t("aml.noScenarios")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("aml.scenarios")}>
              <table data-testid="aml-scenarios">
                <caption className="sr-only">{t("aml.scenarios")}</caption>
                <thead><tr><th scope="col">{t("aml.name")}</th><th scope="col">{t("aml.team")}</th><th scope="col">{t("aml.live")}</th>
                  <th scope="col">{t("aml.draft")}</th><th scope="col">{t("aml.created")}</th></tr></thead>
                <tbody>{data.amlScenarios.nodes.map((s) => (
                  <tr key={s.id}>
                    <th scope="row"><Link to={`/aml/scenarios/${encodeURIComponent(s.id)}`}>{s.name}</Link></th>
                    <td>{s.team}</td>
                    <td>{s.liveVersionId ? t("aml.yes") : t("aml.notLive")}</td>
                    <td>{s.draft ? t("aml.yes") : t("aml.no")}</td>
                    <td>{dateTime(s.createdAt)}</td>
                  </tr>
                ))}</tbody>
              </table>
            </div>
            <Pager info={data.amlScenarios.pageInfo} size={PAGE} onPage={setCursor} label={t("aml.scenarios")} />
          </>
        )) : null}
      </section>
      {data && canManage(viewer?.permissions) ? <CreateScenario templates={data.amlTemplates} /> : null}
    </>
  );
}

type Template = { key: string; title: string; description: string; document: unknown };

function CreateScenario({ templates }: { templates: Template[] }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [, create] = useMutation(CreateMutation);
  const [form, setForm] = useState({ template: templates[0]?.key ?? "", name: "", team: "compliance", description: "" });
  const errors = useFormErrors(["template", "name", "team", "description"]);
  const chosen = templates.find((x) => x.key === form.template);
  return (
    <section className="card" aria-labelledby="aml-create-h">
      <h2 id="aml-create-h">{t("aml.create")}</h2>
      <form noValidate onSubmit={async (e) => {
        e.preventDefault();
        if (!chosen) { errors.set([{ field: "template", message: t("aml.chooseTemplate"), code: "VALIDATION_FAILED" }]); return; }
        const r = await create({ name: form.name.trim(), team: form.team.trim(), description: form.description.trim() || chosen.description, document: chosen.document });
        const payload = r.data?.createAmlScenario;
        if (!payload?.scenario || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
        navigate(`/aml/scenarios/${encodeURIComponent(payload.scenario.id)}`);
      }}>
        <FormAlert errors={errors} />
        <SelectField label={t("aml.template")} name="template" errors={errors} value={form.template} onChange={(e) => setForm({ ...form, template: e.target.value })}>
          {templates.map((x) => <option key={x.key} value={x.key}>{x.title}</option>)}
        </SelectField>
        {chosen ? <p className="hint">{chosen.description}</p> : null}
        <TextField label={t("aml.name")} name="name" errors={errors} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
        <TextField label={t("aml.team")} name="team" errors={errors} hint={t("aml.teamHint")} value={form.team} onChange={(e) => setForm({ ...form, team: e.target.value })} />
        <TextField label={t("aml.description")} name="description" errors={errors} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
        <div className="actions"><button type="submit">{t("aml.createDraft")}</button></div>
      </form>
    </section>
  );
}

/** Activations awaiting a second staff member (of every scenario, or of one). */
function PendingActivations({ names, scenarioId, changes = 0, onChanged }: { names: Record<string, string>; scenarioId?: string; changes?: number; onChanged?: () => void }) {
  const { t } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error }, refetch] = useQuery({ query: ActivationsQuery, variables: { ...cursor, status: "PENDING" } });
  // Read again when the page changed something (an activation asked for): the list may have been empty.
  useEffect(() => { if (changes > 0) refetch({ requestPolicy: "network-only" }); }, [changes, refetch]);
  const [decided, setDecided] = useState<string | null>(null);
  const nodes = (data?.amlActivationRequests.nodes ?? []).filter((r) => !scenarioId || r.scenarioId === scenarioId);
  const who = useWho(nodes.map((r) => r.requestedById));
  const versionIds = [...new Set(nodes.map((r) => r.versionId))].sort();
  const [numbers] = useQuery({ query: VersionNumbersQuery, variables: { ids: versionIds }, pause: versionIds.length === 0 });
  const versionOf: Record<string, string> = {};
  for (const node of numbers.data?.nodes ?? []) if (node && "version" in node) versionOf[node.id] = String(node.version ?? "");
  const changed = (message: string) => { setDecided(message); refetch({ requestPolicy: "network-only" }); onChanged?.(); };
  return (
    <section className="card" aria-labelledby="aml-pending-h">
      <h2 id="aml-pending-h">{t("aml.pendingActivations")}</h2>
      {decided ? <Notice tone="success">{decided}</Notice> : null}
      <QueryError error={data ? undefined : error} />
      {data ? (nodes.length === 0 ? <p>{t("aml.noPending")}</p> : (
        <>
          <ul className="plain" data-testid="aml-activations">
            {nodes.map((r) => <Activation key={r.id} request={r} scenario={names[r.scenarioId] ?? t("aml.scenarioNo", { id: databaseIdOf(r.scenarioId) })} requester={who(r.requestedById)} version={versionOf[r.versionId] ?? "…"} onChanged={changed} />)}
          </ul>
          {scenarioId ? null : <Pager info={data.amlActivationRequests.pageInfo} size={PAGE} onPage={setCursor} label={t("aml.pendingActivations")} />}
        </>
      )) : null}
    </section>
  );
}

type ActivationRequest = { id: string; databaseId: string; scenarioId: string; versionId: string; requestedById: string; reason: string; createdAt: string };

function Activation({ request, scenario, requester, version, onChanged }: { request: ActivationRequest; scenario: string; requester: string; version: string; onChanged: (message: string) => void }) {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [, approve] = useMutation(ApproveActivationMutation);
  const [, reject] = useMutation(RejectActivationMutation);
  const [reason, setReason] = useState("");
  const errors = useFormErrors(["reason"]);
  const decide = async (ok: boolean) => {
    const r = ok ? await approve({ requestId: request.id }) : await reject({ requestId: request.id, reason: reason.trim() });
    const payload = r.data ? ("approveAmlActivation" in r.data ? r.data.approveAmlActivation : r.data.rejectAmlActivation) : undefined;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload as Payload, r.error)); return; }
    errors.clear();
    onChanged(t(ok ? "aml.activated" : "aml.activationRejected", { scenario }));
  };
  return (
    <li className="card" data-testid="aml-activation" aria-labelledby={`act-${request.databaseId}`}>
      <h3 id={`act-${request.databaseId}`}>{t("aml.activationOf", { id: request.databaseId, scenario })}</h3>
      <p>{t("aml.activationWhat", { version, reason: request.reason })}</p>
      <p data-testid="aml-requested-by">{t("aml.requestedBy", { who: requester, when: dateTime(request.createdAt) })}</p>
      <FormAlert errors={errors} />
      {canManage(viewer?.permissions) ? (
        <form className="filters" noValidate onSubmit={(e) => e.preventDefault()}>
          <TextField label={t("aml.rejectReason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
          <div className="actions">
            <button type="button" onClick={() => void decide(true)} aria-label={t("aml.approveOne", { id: request.databaseId })}>{t("aml.approve")}</button>
            <button type="button" className="secondary" onClick={() => void decide(false)} aria-label={t("aml.rejectOne", { id: request.databaseId })}>{t("aml.reject")}</button>
          </div>
        </form>
      ) : null}
    </li>
  );
}

type Scenario = Extract<NonNullable<StaffAmlScenarioQuery["node"]>, { team: string }>;

export function AmlScenarioView() {
  const { id = "" } = useParams();
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: ScenarioQuery, variables: { id } });
  const [changes, setChanges] = useState(0);
  const s = data?.node && "team" in data.node ? (data.node as Scenario) : null;
  const who = useWho(s ? [s.draft?.createdById, ...s.versions.nodes.map((v) => v.createdById)] : []);
  if (fetching && !data) return <Loading />;
  if (error && !data) return <QueryError error={error} title={t("aml.scenariosTitle")} />;
  if (!s) return <><PageTitle>{t("aml.noSuchScenario")}</PageTitle><Notice tone="error">{t("aml.noSuchScenario")}</Notice></>;
  const manage = canManage(viewer?.permissions);
  const refresh = () => { refetch({ requestPolicy: "network-only" }); setChanges((n) => n + 1); };
  const committed = s.versions.nodes.filter((v) => v.version !== null && v.version !== undefined);
  return (
    <>
      <PageTitle>{s.name}</PageTitle>
      <p><Link to="/aml/scenarios">{t("aml.scenariosTitle")}</Link></p>
      <section className="card" aria-labelledby="aml-versions-h">
        <h2 id="aml-versions-h">{t("aml.versions")}</h2>
        {s.description ? <p className="muted">{s.description}</p> : null}
        <p>{t("aml.teamIs", { team: s.team })}</p>
        <div className="table-wrap" tabIndex={0} role="region" aria-label={t("aml.versions")}>
          <table data-testid="aml-versions">
            <caption className="sr-only">{t("aml.versions")}</caption>
            <thead><tr><th scope="col">{t("aml.version")}</th><th scope="col">{t("aml.status")}</th><th scope="col">{t("aml.by")}</th><th scope="col">{t("aml.at")}</th></tr></thead>
            <tbody>{s.versions.nodes.map((v) => (
              <tr key={v.id} data-testid={v.version ? `aml-version-${v.version}` : "aml-version-draft"}>
                <th scope="row">{v.version ?? t("aml.draft")}</th>
                <td>{v.id === s.liveVersionId ? <span className="status">{t("aml.vstatus.live")}</span> : t(`aml.vstatus.${v.status}`)}</td>
                <td>{who(v.createdById)}</td>
                <td>{dateTime(v.committedAt ?? v.createdAt)}</td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      </section>
      <PendingActivations names={{ [s.id]: s.name }} scenarioId={s.id} changes={changes} onChanged={() => refetch({ requestPolicy: "network-only" })} />
      {manage ? <DraftEditor scenario={s} onChanged={refresh} /> : null}
      {manage ? <TestRun scenario={s} /> : null}
      {manage ? <Activate scenario={s} committed={committed.map((v) => v.version as number)} onChanged={refresh} /> : null}
    </>
  );
}

/** The draft as JSON: saved (checked by the API), committed. */
function DraftEditor({ scenario, onChanged }: { scenario: Scenario; onChanged: () => void }) {
  const { t } = useI18n();
  const [, save] = useMutation(SaveDraftMutation);
  const [, commit] = useMutation(CommitMutation);
  // The draft, else the newest committed version's document to start a new draft from.
  const [text, setText] = useState(() => JSON.stringify(scenario.draft?.document ?? scenario.versions.nodes.find((v) => v.version)?.document ?? {}, null, 2));
  const [notice, setNotice] = useState<string | null>(null);
  const [problems, setProblems] = useState<FieldError[]>([]);
  const errors = useFormErrors([]);
  const parse = (): unknown => {
    try {
      return JSON.parse(text);
    } catch (e) {
      setProblems([{ field: "document", message: t("aml.notJson", { message: (e as Error).message }), code: "INVALID_JSON" }]);
      return undefined;
    }
  };
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setNotice(null);
    const document = parse();
    if (document === undefined) return;
    const r = await save({ scenarioId: scenario.id, document });
    const payload = r.data?.saveAmlDraft;
    if (!payload || payload.errors.length > 0) {
      const all = errorsOf(payload, r.error);
      setProblems(all.filter((e) => e.code === "INVALID_RULE_DOCUMENT" || e.field?.startsWith("document")));
      errors.set(all.filter((e) => !(e.code === "INVALID_RULE_DOCUMENT" || e.field?.startsWith("document"))));
      return;
    }
    setProblems([]);
    errors.clear();
    setNotice(t("aml.draftSaved"));
    onChanged();
  };
  const doCommit = async () => {
    setNotice(null);
    const r = await commit({ scenarioId: scenario.id });
    const payload = r.data?.commitAmlDraft;
    if (!payload?.version || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("aml.committed", { version: String(payload.version.version ?? "") }));
    onChanged();
  };
  const invalid = problems.length > 0;
  return (
    <section className="card" aria-labelledby="aml-draft-h">
      <h2 id="aml-draft-h">{t("aml.draftTitle")}</h2>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      <form noValidate onSubmit={submit}>
        <div className={`field${invalid ? " field-invalid" : ""}`}>
          <label htmlFor="aml-document">{t("aml.document")}</label>
          <p id="aml-document-hint" className="hint">{t("aml.documentHint")}</p>
          <textarea id="aml-document" className="code" rows={18} spellCheck={false} value={text} onChange={(e) => setText(e.target.value)}
            aria-invalid={invalid ? true : undefined} aria-describedby={`aml-document-hint${invalid ? " aml-document-errors" : ""}`} />
          {invalid ? (
            <ul id="aml-document-errors" className="field-error" data-testid="aml-document-errors">
              {problems.map((p, i) => <li key={i} data-code={p.code}>{p.field && p.field !== "document" ? <><code>{p.field}</code>: </> : null}{p.message}</li>)}
            </ul>
          ) : null}
        </div>
        <div className="actions">
          <button type="submit">{t("aml.saveDraft")}</button>
          {scenario.draft ? <button type="button" className="secondary" onClick={() => void doCommit()}>{t("aml.commit")}</button> : null}
        </div>
      </form>
    </section>
  );
}

type Run = NonNullable<StaffAmlTestRunMutation["runAmlTest"]["run"]>;

function localValue(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** The draft over a period beside the live version. */
function TestRun({ scenario }: { scenario: Scenario }) {
  const { t, dateTime } = useI18n();
  const [, test] = useMutation(TestRunMutation);
  const [since, setSince] = useState(() => localValue(new Date(Date.now() - 30 * 86_400_000)));
  const [until, setUntil] = useState(() => localValue(new Date(Date.now() + 60_000)));
  const [busy, setBusy] = useState(false);
  const [run, setRun] = useState<Run | null>(null);
  const errors = useFormErrors(["since", "until"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const from = new Date(since);
    const to = new Date(until);
    const bad: FieldError[] = [];
    if (Number.isNaN(from.getTime())) bad.push({ field: "since", message: t("aml.badMoment"), code: "VALIDATION_FAILED" });
    if (Number.isNaN(to.getTime())) bad.push({ field: "until", message: t("aml.badMoment"), code: "VALIDATION_FAILED" });
    if (bad.length) { errors.set(bad); return; }
    setBusy(true);
    const r = await test({ scenarioId: scenario.id, since: from.toISOString(), until: to.toISOString() });
    setBusy(false);
    const payload = r.data?.runAmlTest;
    if (!payload?.run || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); setRun(null); return; }
    errors.clear();
    setRun(payload.run);
  };
  const outcomes = ["allow", "review", "block", "decline"] as const;
  return (
    <section className="card" aria-labelledby="aml-test-h">
      <h2 id="aml-test-h">{t("aml.testRun")}</h2>
      <p className="hint">{t("aml.testRunHint")}</p>
      <form className="filters" noValidate onSubmit={submit}>
        <TextField label={t("aml.since")} name="since" type="datetime-local" errors={errors} value={since} onChange={(e) => setSince(e.target.value)} />
        <TextField label={t("aml.until")} name="until" type="datetime-local" errors={errors} value={until} onChange={(e) => setUntil(e.target.value)} />
        <button type="submit" disabled={busy || !scenario.draft}>{t("aml.runTest")}</button>
      </form>
      <FormAlert errors={errors} />
      {busy ? <Loading /> : null}
      {run ? (
        <div data-testid="aml-test-result">
          <p>{t("aml.evaluated", { count: String(run.evaluated), seconds: String(run.seconds) })}</p>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("aml.testCounts")}>
            <table data-testid="aml-test-counts">
              <caption className="sr-only">{t("aml.testCounts")}</caption>
              <thead><tr><th scope="col">{t("aml.version")}</th>{outcomes.map((o) => <th key={o} scope="col" className="num">{t(`aml.outcome.${o.toUpperCase()}`)}</th>)}</tr></thead>
              <tbody>
                <tr><th scope="row">{t("aml.draft")}</th>{outcomes.map((o) => <td key={o} className="num">{run.draft[o]}</td>)}</tr>
                <tr><th scope="row">{t("aml.vstatus.live")}</th>{outcomes.map((o) => <td key={o} className="num">{run.live ? run.live[o] : "—"}</td>)}</tr>
              </tbody>
            </table>
          </div>
          {run.hits.length === 0 ? <p>{t("aml.noHits")}</p> : (
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("aml.wouldRaise")}>
              <table data-testid="aml-test-hits">
                <caption className="sr-only">{t("aml.wouldRaise")}</caption>
                <thead><tr><th scope="col">{t("aml.at")}</th><th scope="col">{t("aml.direction")}</th><th scope="col" className="num">{t("aml.amount")}</th>
                  <th scope="col">{t("aml.draft")}</th><th scope="col">{t("aml.vstatus.live")}</th><th scope="col">{t("aml.rules")}</th></tr></thead>
                <tbody>{run.hits.map((h) => (
                  <tr key={h.paymentId}>
                    <th scope="row">{dateTime(h.at)}</th>
                    <td>{t(`aml.trigger.${h.direction}`)}</td>
                    <td className="num"><Money amount={atCurrencyScale(h.amount, h.currency)} currency={h.currency} /></td>
                    <td>{t(`aml.outcome.${h.draftOutcome}`)} ({h.draftScore})</td>
                    <td>{h.liveOutcome ? `${t(`aml.outcome.${h.liveOutcome}`)} (${h.liveScore ?? ""})` : "—"}</td>
                    <td>{h.draftRules.join(", ")}</td>
                  </tr>
                ))}</tbody>
              </table>
            </div>
          )}
          {run.hitsTruncated ? <p className="muted">{t("aml.truncated")}</p> : null}
        </div>
      ) : null}
    </section>
  );
}

/** Ask for a committed version to go live (a second staff member approves), or take the scenario off. */
function Activate({ scenario, committed, onChanged }: { scenario: Scenario; committed: number[]; onChanged: () => void }) {
  const { t } = useI18n();
  const [, request] = useMutation(RequestActivationMutation);
  const [, deactivate] = useMutation(DeactivateMutation);
  const [version, setVersion] = useState("");
  const [reason, setReason] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["version", "reason"]);
  const finish = (payload: Payload, transport: { message: string } | undefined, ok: string) => {
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, transport)); setNotice(null); return; }
    errors.clear();
    setNotice(ok);
    setReason("");
    onChanged();
  };
  const chosen = version || String(committed[0] ?? "");
  return (
    <section className="card" aria-labelledby="aml-activate-h">
      <h2 id="aml-activate-h">{t("aml.activation")}</h2>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      {committed.length === 0 ? <p>{t("aml.nothingCommitted")}</p> : null}
      <form noValidate onSubmit={async (e) => {
        e.preventDefault();
        const r = await request({ scenarioId: scenario.id, version: Number(chosen), reason: reason.trim() });
        const payload = r.data?.requestAmlActivation;
        finish(payload, r.error, t("aml.activationRequested", { id: payload?.request?.databaseId ?? "" }));
      }}>
        <SelectField label={t("aml.version")} name="version" errors={errors} value={chosen} onChange={(e) => setVersion(e.target.value)}>
          {committed.map((v) => <option key={v} value={String(v)}>{v}</option>)}
        </SelectField>
        <TextField label={t("aml.reason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
        <div className="actions">
          <button type="submit" disabled={committed.length === 0}>{t("aml.requestActivation")}</button>
          {scenario.liveVersionId ? <button type="button" className="secondary" onClick={async () => {
            const r = await deactivate({ scenarioId: scenario.id, reason: reason.trim() });
            finish(r.data?.deactivateAmlScenario, r.error, t("aml.deactivated"));
          }}>{t("aml.deactivate")}</button> : null}
        </div>
      </form>
    </section>
  );
}
