// Transaction-monitoring cases (needs compliance.read; working them needs compliance.review): the inbox
// of a team (the teams are the scenarios'), by status, mine or anyone's, overdue only, each with its SLA
// due time (overdue marked) and paged over the connection; a case: its client (a link to client-360),
// its alerts with why each was raised and what they hold (released or declined here), notes, the
// assignee (take it, give it to a colleague picked among those who may work cases, or leave it unassigned), its status, and closing it
// with an outcome and a note (its held payments must be decided first: the API says so beside the form);
// the screening hits that opened it; once closed with "risk confirmed", its reports to the FIU.
import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { AmlCaseOutcome, AmlCaseStatus, StaffAmlCaseQuery } from "../gql/graphql";
import { AlertList } from "./AmlAlerts";
import { CaseReports } from "./AmlReports";
import { ScreeningHits } from "./Screening";
import { Pager, QueryError, databaseIdOf, type Cursor } from "./common";
import { useWho } from "./who";

const PAGE = 20;
const OPEN_STATUSES: AmlCaseStatus[] = ["OPEN", "INVESTIGATING", "ESCALATED"];
const STATUSES: AmlCaseStatus[] = [...OPEN_STATUSES, "CLOSED"];
const OUTCOMES: AmlCaseOutcome[] = ["FALSE_POSITIVE", "VALUABLE_ALERT", "RISK_CONFIRMED"];

const TeamsQuery = graphql(`
  query StaffAmlTeams {
    amlScenarios(first: 100) { nodes { id team } }
  }
`);

const CasesQuery = graphql(`
  query StaffAmlCases($team: String, $status: [AmlCaseStatus!], $assigneeId: ID, $overdue: Boolean!, $first: Int, $after: String, $last: Int, $before: String) {
    amlCases(team: $team, status: $status, assigneeId: $assigneeId, overdue: $overdue, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId clientId team status assigneeId outcome alertCount slaDueAt slaBreached openedAt }
    }
  }
`);

const ClientNamesQuery = graphql(`
  query StaffAmlClientNames($ids: [ID!]!) {
    nodes(ids: $ids) { ... on Client360 { id firstName lastName email } }
  }
`);

const CaseQuery = graphql(`
  query StaffAmlCase($id: ID!) {
    node(id: $id) {
      ... on AmlCase {
        id databaseId clientId userId team status assigneeId outcome closingNote alertCount slaDueAt slaBreached openedAt updatedAt closedAt
        alerts(first: 50) { nodes { ...StaffAmlAlertFields } }
        notes(first: 100) { nodes { id body authorId createdAt } }
        screeningHits(first: 50) { nodes { ...StaffScreeningHitFields } }
      }
    }
  }
`);

// Whom a case may go to: staff holding compliance.review, readable with compliance.read (not staff.manage).
const AssignableQuery = graphql(`
  query StaffAmlAssignable {
    amlAssignableStaff { id displayName }
  }
`);

const AssignMutation = graphql(`
  mutation StaffAssignAmlCase($caseId: ID!, $assigneeId: ID) {
    assignAmlCase(caseId: $caseId, assigneeId: $assigneeId) { case { id assigneeId } errors { field message code } }
  }
`);

const StatusMutation = graphql(`
  mutation StaffSetAmlCaseStatus($caseId: ID!, $status: AmlCaseStatus!) {
    setAmlCaseStatus(caseId: $caseId, status: $status) { case { id status } errors { field message code } }
  }
`);

const NoteMutation = graphql(`
  mutation StaffAddAmlCaseNote($caseId: ID!, $body: String!) {
    addAmlCaseNote(caseId: $caseId, body: $body) { note { id } errors { field message code } }
  }
`);

const CloseMutation = graphql(`
  mutation StaffCloseAmlCase($caseId: ID!, $outcome: AmlCaseOutcome!, $note: String!) {
    closeAmlCase(caseId: $caseId, outcome: $outcome, note: $note) { case { id status outcome } errors { field message code } }
  }
`);

/** Client names by global id (the inbox shows whose case it is). */
function useClientNames(ids: string[]): Record<string, string> {
  const unique = [...new Set(ids)].sort();
  const [{ data }] = useQuery({ query: ClientNamesQuery, variables: { ids: unique }, pause: unique.length === 0 });
  const names: Record<string, string> = {};
  for (const node of data?.nodes ?? []) {
    if (node && "email" in node) names[node.id] = `${node.firstName} ${node.lastName}`.trim() || node.email;
  }
  return names;
}

export function AmlCases() {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [filters, setFilters] = useState({ team: "", status: "OPEN_ANY", mine: false, overdue: false });
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [teams] = useQuery({ query: TeamsQuery });
  const status = filters.status === "OPEN_ANY" ? OPEN_STATUSES : filters.status === "" ? null : [filters.status as AmlCaseStatus];
  const [{ data, error, fetching }] = useQuery({
    query: CasesQuery,
    variables: { ...cursor, team: filters.team || null, status, assigneeId: filters.mine && viewer ? viewer.id : null, overdue: filters.overdue },
  });
  const names = useClientNames((data?.amlCases.nodes ?? []).map((c) => c.clientId ?? "").filter(Boolean));
  const who = useWho((data?.amlCases.nodes ?? []).map((c) => c.assigneeId));
  if (error && !data) return <QueryError error={error} title={t("aml.casesTitle")} />;
  const set = (next: Partial<typeof filters>) => { setFilters({ ...filters, ...next }); setCursor({ first: PAGE }); };
  const teamNames = [...new Set((teams.data?.amlScenarios.nodes ?? []).map((s) => s.team))].sort();
  return (
    <>
      <PageTitle>{t("aml.casesTitle")}</PageTitle>
      <p><Link to="/aml/scenarios">{t("nav.amlScenarios")}</Link></p>
      <section className="card" aria-labelledby="aml-inbox-h">
        <h2 id="aml-inbox-h">{t("aml.inbox")}</h2>
        <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label={t("aml.filters")}>
          <SelectField label={t("aml.team")} name="team" value={filters.team} onChange={(e) => set({ team: e.target.value })}>
            <option value="">{t("aml.anyTeam")}</option>
            {teamNames.map((team) => <option key={team} value={team}>{team}</option>)}
          </SelectField>
          <SelectField label={t("aml.status")} name="status" value={filters.status} onChange={(e) => set({ status: e.target.value })}>
            <option value="OPEN_ANY">{t("aml.notClosed")}</option>
            {STATUSES.map((s) => <option key={s} value={s}>{t(`aml.status.${s}`)}</option>)}
            <option value="">{t("aml.anyStatus")}</option>
          </SelectField>
          <label className="choice"><input type="checkbox" checked={filters.mine} onChange={(e) => set({ mine: e.target.checked })} />{t("aml.mine")}</label>
          <label className="choice"><input type="checkbox" checked={filters.overdue} onChange={(e) => set({ overdue: e.target.checked })} />{t("aml.overdueOnly")}</label>
        </form>
        {fetching && !data ? <Loading /> : null}
        {data ? (data.amlCases.nodes.length === 0 ? <p>{t("aml.noCases")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("aml.inbox")}>
              <table data-testid="aml-cases">
                <caption className="sr-only">{t("aml.inbox")}</caption>
                <thead><tr>
                  <th scope="col">{t("aml.case")}</th><th scope="col">{t("aml.client")}</th><th scope="col">{t("aml.team")}</th>
                  <th scope="col">{t("aml.status")}</th><th scope="col">{t("aml.assignee")}</th><th scope="col" className="num">{t("aml.alerts")}</th>
                  <th scope="col">{t("aml.slaDue")}</th><th scope="col">{t("aml.opened")}</th>
                </tr></thead>
                <tbody>
                  {data.amlCases.nodes.map((c) => (
                    <tr key={c.id} data-testid={`aml-case-${c.databaseId}`}>
                      <th scope="row"><Link to={`/aml/cases/${encodeURIComponent(c.id)}`}>{t("aml.caseNo", { id: c.databaseId })}</Link></th>
                      <td>{c.clientId ? (names[c.clientId] ?? t("aml.clientNo", { id: databaseIdOf(c.clientId) })) : "—"}</td>
                      <td>{c.team}</td>
                      <td><span className="status">{t(`aml.status.${c.status}`)}</span></td>
                      <td>{who(c.assigneeId)}</td>
                      <td className="num">{c.alertCount}</td>
                      <td><Sla due={c.slaDueAt} breached={c.slaBreached} closed={c.status === "CLOSED"} /></td>
                      <td>{dateTime(c.openedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager info={data.amlCases.pageInfo} size={PAGE} onPage={setCursor} label={t("aml.inbox")} />
          </>
        )) : null}
      </section>
    </>
  );
}

function Sla({ due, breached, closed }: { due: string; breached: boolean; closed: boolean }) {
  const { t, dateTime } = useI18n();
  return (
    <span data-testid="aml-sla">
      {dateTime(due)}{breached ? <> <span className="status risk-high">{closed ? t("aml.closedLate") : t("aml.overdue")}</span></> : null}
    </span>
  );
}

type Case = Extract<NonNullable<StaffAmlCaseQuery["node"]>, { __typename?: "AmlCase"; team: string }>;
type Payload = { errors: readonly FieldError[] } | null | undefined;

export function AmlCaseView() {
  const { id = "" } = useParams();
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: CaseQuery, variables: { id } });
  const c = data?.node && "team" in data.node ? (data.node as Case) : null;
  const names = useClientNames(c?.clientId ? [c.clientId] : []);
  const who = useWho(c ? [c.assigneeId, ...c.notes.nodes.map((n) => n.authorId)] : []);
  if (fetching && !data) return <Loading />;
  if (error && !data) return <QueryError error={error} title={t("aml.casesTitle")} />;
  if (!c) return <><PageTitle>{t("aml.noSuchCase")}</PageTitle><Notice tone="error">{t("aml.noSuchCase")}</Notice></>;
  const canWork = !!viewer?.permissions.includes("compliance.review");
  const refresh = () => refetch({ requestPolicy: "network-only" });
  const open = c.status !== "CLOSED";
  return (
    <>
      <PageTitle>{t("aml.caseNo", { id: c.databaseId })}</PageTitle>
      <p><Link to="/aml/cases">{t("aml.casesTitle")}</Link></p>
      <section className="card" aria-labelledby="aml-case-h">
        <h2 id="aml-case-h">{t("aml.summary")}</h2>
        <dl className="facts" data-testid="aml-case-facts">
          <div><dt>{t("aml.client")}</dt><dd>{c.clientId
            ? <Link to={`/clients/${encodeURIComponent(c.clientId)}`}>{names[c.clientId] ?? t("aml.clientNo", { id: databaseIdOf(c.clientId) })}</Link>
            : t("aml.userNo", { id: c.userId })}</dd></div>
          <div><dt>{t("aml.team")}</dt><dd>{c.team}</dd></div>
          <div><dt>{t("aml.status")}</dt><dd><span className="status" data-testid="aml-case-status">{t(`aml.status.${c.status}`)}</span></dd></div>
          <div><dt>{t("aml.assignee")}</dt><dd data-testid="aml-case-assignee">{who(c.assigneeId)}</dd></div>
          <div><dt>{t("aml.alerts")}</dt><dd>{c.alertCount}</dd></div>
          <div><dt>{t("aml.slaDue")}</dt><dd><Sla due={c.slaDueAt} breached={c.slaBreached} closed={!open} /></dd></div>
          <div><dt>{t("aml.opened")}</dt><dd>{dateTime(c.openedAt)}</dd></div>
          {c.outcome ? <div><dt>{t("aml.outcomeOfCase")}</dt><dd data-testid="aml-case-outcome">{t(`aml.caseOutcome.${c.outcome}`)}</dd></div> : null}
          {c.closedAt ? <div><dt>{t("aml.closed")}</dt><dd>{dateTime(c.closedAt)}</dd></div> : null}
          {c.closingNote ? <div><dt>{t("aml.closingNote")}</dt><dd>{c.closingNote}</dd></div> : null}
        </dl>
      </section>
      {canWork && open ? <CaseWork item={c} onChanged={refresh} /> : null}
      <section className="card" aria-labelledby="aml-alerts-h">
        <h2 id="aml-alerts-h">{t("aml.alertsTitle")}</h2>
        <AlertList alerts={c.alerts.nodes} canDecide={canWork} onChanged={refresh} />
      </section>
      {c.screeningHits.nodes.length > 0 ? (
        <section className="card" aria-labelledby="aml-screening-h">
          <h2 id="aml-screening-h">{t("screening.title")}</h2>
          <ScreeningHits hits={c.screeningHits.nodes} canResolve={!!viewer?.permissions.includes("kyc.review")} onChanged={refresh} />
        </section>
      ) : null}
      {c.outcome === "RISK_CONFIRMED" && viewer?.permissions.includes("compliance.reports") ? <CaseReports caseId={c.id} /> : null}
      <section className="card" aria-labelledby="aml-notes-h">
        <h2 id="aml-notes-h">{t("aml.notes")}</h2>
        {c.notes.nodes.length === 0 ? <p>{t("aml.noNotes")}</p> : (
          <ol data-testid="aml-notes">{c.notes.nodes.map((n) => <li key={n.id}>{dateTime(n.createdAt)}, {n.authorId ? who(n.authorId) : t("aml.system")}: {n.body}</li>)}</ol>
        )}
        {canWork && open ? <AddNote caseId={c.id} onChanged={refresh} /> : null}
      </section>
    </>
  );
}

function useFinish(errors: ReturnType<typeof useFormErrors>, setNotice: (m: string | null) => void, onChanged: () => void) {
  return (payload: Payload, transport: { message: string } | undefined, ok: string): boolean => {
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, transport)); setNotice(null); return false; }
    errors.clear();
    setNotice(ok);
    onChanged();
    return true;
  };
}

function AddNote({ caseId, onChanged }: { caseId: string; onChanged: () => void }) {
  const { t } = useI18n();
  const [, add] = useMutation(NoteMutation);
  const [body, setBody] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["body"]);
  const finish = useFinish(errors, setNotice, onChanged);
  return (
    <form noValidate onSubmit={async (e) => {
      e.preventDefault();
      const r = await add({ caseId, body });
      if (finish(r.data?.addAmlCaseNote, r.error, t("aml.noteAdded"))) setBody("");
    }}>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      <TextField label={t("aml.note")} name="body" errors={errors} value={body} onChange={(e) => setBody(e.target.value)} />
      <div className="actions"><button type="submit">{t("aml.addNote")}</button></div>
    </form>
  );
}

/** Assign, move between open statuses, close with an outcome. */
function CaseWork({ item, onChanged }: { item: Case; onChanged: () => void }) {
  const { t } = useI18n();
  const { viewer } = useSession();
  const [, assign] = useMutation(AssignMutation);
  const [, setStatus] = useMutation(StatusMutation);
  const [, close] = useMutation(CloseMutation);
  const [assignee, setAssignee] = useState("");
  const [assignable] = useQuery({ query: AssignableQuery });
  const [status, setStatusValue] = useState<AmlCaseStatus>(item.status);
  const [outcome, setOutcome] = useState<AmlCaseOutcome | "">("");
  const [note, setNote] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["assigneeId", "status", "outcome", "note"]);
  const finish = useFinish(errors, setNotice, onChanged);
  const mine = !!viewer && !!item.assigneeId && databaseIdOf(item.assigneeId) === viewer.id;
  const give = async (to: string | null, ok: string) => {
    const r = await assign({ caseId: item.id, assigneeId: to });
    if (finish(r.data?.assignAmlCase, r.error, ok)) setAssignee("");
  };
  return (
    <section className="card" aria-labelledby="aml-work-h" data-testid="aml-case-work">
      <h2 id="aml-work-h">{t("aml.work")}</h2>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      <div className="grid two">
        <form noValidate onSubmit={(e) => { e.preventDefault(); void give(assignee.trim(), t("aml.assigned")); }} aria-labelledby="aml-assign-h">
          <h3 id="aml-assign-h">{t("aml.assignee")}</h3>
          <SelectField label={t("aml.assignTo")} name="assigneeId" errors={errors} value={assignee} onChange={(e) => setAssignee(e.target.value)}>
            <option value="">—</option>
            {(assignable.data?.amlAssignableStaff ?? []).filter((p) => p.id !== item.assigneeId).map((p) => (
              <option key={p.id} value={p.id}>{p.displayName || t("aml.staffNo", { id: databaseIdOf(p.id) })}{viewer && databaseIdOf(p.id) === viewer.id ? ` (${t("aml.you")})` : ""}</option>
            ))}
          </SelectField>
          <div className="actions">
            <button type="submit" className="secondary" disabled={!assignee.trim()}>{t("aml.assign")}</button>
            {viewer && !mine ? <button type="button" className="secondary" onClick={() => void give(viewer.id, t("aml.taken"))}>{t("aml.take")}</button> : null}
            {item.assigneeId ? <button type="button" className="secondary" onClick={() => void give(null, t("aml.unassigned"))}>{t("aml.unassign")}</button> : null}
          </div>
        </form>
        <form noValidate aria-labelledby="aml-status-h" onSubmit={async (e) => {
          e.preventDefault();
          const r = await setStatus({ caseId: item.id, status });
          finish(r.data?.setAmlCaseStatus, r.error, t("aml.statusSet", { status: t(`aml.status.${status}`) }));
        }}>
          <h3 id="aml-status-h">{t("aml.status")}</h3>
          <SelectField label={t("aml.newStatus")} name="status" errors={errors} value={status} onChange={(e) => setStatusValue(e.target.value as AmlCaseStatus)}>
            {OPEN_STATUSES.map((s) => <option key={s} value={s}>{t(`aml.status.${s}`)}</option>)}
          </SelectField>
          <div className="actions"><button type="submit" className="secondary">{t("aml.setStatus")}</button></div>
        </form>
      </div>
      <form noValidate aria-labelledby="aml-close-h" onSubmit={async (e) => {
        e.preventDefault();
        if (!outcome) { errors.set([{ field: "outcome", message: t("aml.chooseOutcome"), code: "VALIDATION_FAILED" }]); return; }
        const r = await close({ caseId: item.id, outcome, note });
        finish(r.data?.closeAmlCase, r.error, t("aml.caseClosed"));
      }}>
        <h3 id="aml-close-h">{t("aml.close")}</h3>
        <SelectField label={t("aml.outcomeOfCase")} name="outcome" errors={errors} value={outcome} onChange={(e) => setOutcome(e.target.value as AmlCaseOutcome | "")}>
          <option value="">—</option>
          {OUTCOMES.map((o) => <option key={o} value={o}>{t(`aml.caseOutcome.${o}`)}</option>)}
        </SelectField>
        <TextField label={t("aml.closingNote")} name="note" errors={errors} value={note} onChange={(e) => setNote(e.target.value)} />
        <div className="actions"><button type="submit">{t("aml.closeCase")}</button></div>
      </form>
    </section>
  );
}
