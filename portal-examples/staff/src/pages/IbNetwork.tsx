// The IB network (needs ib.read; each action its own permission, the API refuses the rest): the partners
// and every payout (./IbPartners.tsx); applications
// to approve (under a parent, on a plan) or reject with a reason; commission plans (create; each links to
// its versions and the editor of the next, ./IbPlans.tsx); moves of an
// IB with its downline under another parent from a date; payouts: a preview of what a run for a closed
// period (or everything accrued up to an instant) would pay, then the run itself (idempotent), held
// payouts released; disputes resolved with or without an adjustment.
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { useClient, useMutation, useQuery } from "urql";
import { FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, errorCode, errorsOf, newIdempotencyKey, useFormErrors, useI18n, useSession, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { IbApplicationStatus, StaffIbPayoutPreviewQuery, StaffRunIbPayoutsMutation } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";
import { AllPayouts, Partners } from "./IbPartners";

const ApplicationsQuery = graphql(`
  query StaffIbApplications($status: IbApplicationStatus, $first: Int, $after: String, $last: Int, $before: String) {
    ibApplications(status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId applicantEmail status website channels expectedClients message createdAt decisionReason parentId planId }
    }
  }
`);

const ApproveApplicationMutation = graphql(`
  mutation StaffApproveIbApplication($input: ApproveIbApplicationInput!) {
    approveIbApplication(input: $input) { application { id status } errors { field message code } }
  }
`);

const RejectApplicationMutation = graphql(`
  mutation StaffRejectIbApplication($input: RejectIbApplicationInput!) {
    rejectIbApplication(input: $input) { application { id status } errors { field message code } }
  }
`);

const PlansQuery = graphql(`
  query StaffIbPlans($first: Int, $after: String, $last: Int, $before: String) {
    ibPlans(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId name currency isDefault latestVersion latestValidFrom currentIbs }
    }
  }
`);

const CreatePlanMutation = graphql(`
  mutation StaffCreateIbPlan($input: CreateIbPlanInput!) {
    createIbPlan(input: $input) { ok id errors { field message code } }
  }
`);

const MoveIbMutation = graphql(`
  mutation StaffMoveIb($input: MoveIbInput!) {
    moveIb(input: $input) { ok id errors { field message code } }
  }
`);

const PayoutPreviewQuery = graphql(`
  query StaffIbPayoutPreview($period: String!) {
    ibPayoutPreview(period: $period) { ibId currency periodKey amount minimum heldBefore outcome lines linesAmount existingPayout { id status } }
  }
`);

const RunPayoutsMutation = graphql(`
  mutation StaffRunIbPayouts($input: RunIbPayoutsInput!) {
    runIbPayouts(input: $input) {
      run { periodKey ibs replayed created { id ibId currency amount status } existing { id ibId currency amount status } }
      errors { field message code }
    }
  }
`);

const ApprovePayoutMutation = graphql(`
  mutation StaffApproveIbPayout($input: ApproveIbPayoutInput!) {
    approveIbPayout(input: $input) { payouts { id status } errors { field message code } }
  }
`);

const DisputesQuery = graphql(`
  query StaffIbDisputes($status: String, $first: Int, $after: String, $last: Int, $before: String) {
    ibDisputes(status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId ibId lineId periodFrom periodTo reason status resolution createdAt resolvedAt }
    }
  }
`);

const ResolveDisputeMutation = graphql(`
  mutation StaffResolveIbDispute($input: ResolveIbDisputeInput!) {
    resolveIbDispute(input: $input) { dispute { id status resolution } errors { field message code } }
  }
`);

function has(perms: readonly string[] | undefined, p: string): boolean {
  return (perms ?? []).includes(p);
}

export function IbNetwork() {
  const { t } = useI18n();
  const { viewer } = useSession();
  const perms = viewer?.permissions;
  const [runs, setRuns] = useState(0); // payout runs made here: the list of every payout reads them again
  return (
    <>
      <PageTitle>{t("ib.title")}</PageTitle>
      <Partners />
      <Applications canDecide={has(perms, "ib.manage_network")} />
      <Plans canCreate={has(perms, "ib.manage_plans")} />
      {has(perms, "ib.manage_network") ? <Move /> : null}
      <Payouts canRun={has(perms, "ib.payouts")} onRan={() => setRuns((n) => n + 1)} />
      <AllPayouts runs={runs} />
      <Disputes />
    </>
  );
}

function Applications({ canDecide }: { canDecide: boolean }) {
  const { t, dateTime } = useI18n();
  const [status, setStatus] = useState<IbApplicationStatus>("PENDING");
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error }, refetch] = useQuery({ query: ApplicationsQuery, variables: { ...cursor, status } });
  const [, approve] = useMutation(ApproveApplicationMutation);
  const [, reject] = useMutation(RejectApplicationMutation);
  const [form, setForm] = useState({ parentId: "", planId: "", reason: "" });
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["parentId", "planId", "reason"]);
  const decide = async (id: string, who: string, ok: boolean) => {
    const r = ok
      ? await approve({ input: { applicationId: id, parentId: form.parentId.trim() || null, planId: form.planId.trim() || null, reason: form.reason.trim() } })
      : await reject({ input: { applicationId: id, reason: form.reason.trim() } });
    const payload = ok ? (r.data as { approveIbApplication?: { errors: FieldError[] } } | undefined)?.approveIbApplication
      : (r.data as { rejectIbApplication?: { errors: FieldError[] } } | undefined)?.rejectIbApplication;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t(ok ? "ib.appApproved" : "ib.appRejected", { who }));
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="apps-h">
      <h2 id="apps-h">{t("ib.applications")}</h2>
      <form className="filters" noValidate onSubmit={(e) => e.preventDefault()} aria-label={t("ib.applications")}>
        <SelectField label={t("ib.appStatus")} name="appStatus" value={status} onChange={(e) => { setStatus(e.target.value as IbApplicationStatus); setCursor({ first: 10 }); }}>
          {(["PENDING", "APPROVED", "REJECTED"] as IbApplicationStatus[]).map((s) => <option key={s} value={s}>{t(`ibApp.${s}`)}</option>)}
        </SelectField>
        {canDecide && status === "PENDING" ? (
          <>
            <TextField label={t("ib.parentId")} name="parentId" errors={errors} value={form.parentId} onChange={(e) => setForm({ ...form, parentId: e.target.value })} />
            <TextField label={t("ib.planId")} name="planId" errors={errors} value={form.planId} onChange={(e) => setForm({ ...form, planId: e.target.value })} />
            <TextField label={t("ib.reason")} name="reason" errors={errors} value={form.reason} onChange={(e) => setForm({ ...form, reason: e.target.value })} />
          </>
        ) : null}
      </form>
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.ibApplications.nodes.length === 0 ? <p>{t("ib.noApplications")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ib.applications")}><table>
            <caption className="sr-only">{t("ib.applications")}</caption>
            <thead><tr><th scope="col">{t("ib.applicant")}</th><th scope="col">{t("ib.website")}</th><th scope="col">{t("ib.channels")}</th>
              <th scope="col" className="num">{t("ib.expected")}</th><th scope="col">{t("ib.applied")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th></tr></thead>
            <tbody>{data.ibApplications.nodes.map((a) => {
              const who = a.applicantEmail ?? `#${a.databaseId}`;
              return (
                <tr key={a.id}><th scope="row">{who}</th><td>{a.website || "—"}</td><td>{a.channels.join(", ")}</td><td className="num">{a.expectedClients}</td>
                  <td>{dateTime(a.createdAt)}</td>
                  <td>{canDecide && a.status === "PENDING" ? (
                    <div className="actions">
                      <button type="button" aria-label={t("ib.approveOne", { who })} onClick={() => void decide(a.id, who, true)}>{t("review.approve")}</button>
                      <button type="button" className="secondary" aria-label={t("ib.rejectOne", { who })} onClick={() => void decide(a.id, who, false)}>{t("review.reject")}</button>
                    </div>
                  ) : (a.decisionReason ?? "")}</td></tr>
              );
            })}</tbody>
          </table></div>
          <Pager info={data.ibApplications.pageInfo} size={10} onPage={setCursor} label={t("ib.applications")} />
        </>
      )) : null}
    </section>
  );
}

function Plans({ canCreate }: { canCreate: boolean }) {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: 20 });
  const [{ data, error }, refetch] = useQuery({ query: PlansQuery, variables: cursor });
  const [, create] = useMutation(CreatePlanMutation);
  const [form, setForm] = useState({ name: "", currency: "USD", isDefault: false });
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["name", "currency", "isDefault"]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const r = await create({ input: { name: form.name.trim(), currency: form.currency.trim().toUpperCase(), isDefault: form.isDefault } });
    const payload = r.data?.createIbPlan;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("ib.planCreated", { name: form.name.trim(), id: payload.id ?? "" }));
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="plans-h">
      <h2 id="plans-h">{t("ib.plans")}</h2>
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.ibPlans.nodes.length === 0 ? <p>{t("ib.noPlans")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ib.plans")}><table data-testid="ib-plans">
            <caption className="sr-only">{t("ib.plans")}</caption>
            <thead><tr><th scope="col">{t("ib.planName")}</th><th scope="col">{t("ib.currency")}</th><th scope="col">{t("ib.planVersion")}</th>
              <th scope="col" className="num">{t("ib.planIbs")}</th><th scope="col">{t("ib.planIdCol")}</th></tr></thead>
            <tbody>{data.ibPlans.nodes.map((p) => (
              <tr key={p.id}><th scope="row"><Link to={`/ib/plans/${encodeURIComponent(p.id)}`}>{p.name}</Link>{p.isDefault ? <span className="muted"> ({t("ib.planDefault")})</span> : null}</th>
                <td>{p.currency}</td>
                <td>{p.latestVersion ? t("ib.planVersionFrom", { version: p.latestVersion, from: p.latestValidFrom ? dateTime(p.latestValidFrom) : "—" }) : t("ib.planNoVersion")}</td>
                <td className="num">{p.currentIbs}</td><td><code className="secret">{p.id}</code></td></tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.ibPlans.pageInfo} size={20} onPage={setCursor} label={t("ib.plans")} />
        </>
      )) : null}
      {canCreate ? <form noValidate onSubmit={submit}>
        <FormAlert errors={errors} />
        {notice ? <Notice tone="success">{notice}</Notice> : null}
        <div className="filters">
          <TextField label={t("ib.planName")} name="name" errors={errors} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
          <TextField label={t("ib.currency")} name="currency" errors={errors} value={form.currency} onChange={(e) => setForm({ ...form, currency: e.target.value })} required />
          <label className="choice"><input type="checkbox" checked={form.isDefault} onChange={(e) => setForm({ ...form, isDefault: e.target.checked })} /> {t("ib.planDefault")}</label>
        </div>
        <div className="actions"><button type="submit">{t("ib.planCreate")}</button></div>
      </form> : null}
    </section>
  );
}

function Move() {
  const { t } = useI18n();
  const [, move] = useMutation(MoveIbMutation);
  const [form, setForm] = useState({ ibId: "", newParentId: "", effectiveFrom: new Date().toISOString().slice(0, 16), reason: "" });
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["ibId", "newParentId", "effectiveFrom", "reason"]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const when = new Date(form.effectiveFrom);
    if (Number.isNaN(when.getTime())) { errors.set([{ field: "effectiveFrom", message: t("ib.dateInvalid"), code: "VALIDATION_FAILED" }]); return; }
    const r = await move({ input: { ibId: form.ibId.trim(), newParentId: form.newParentId.trim() || null, effectiveFrom: when.toISOString(), reason: form.reason.trim() } });
    const payload = r.data?.moveIb;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("ib.moved", { ib: form.ibId.trim() }));
  };
  return (
    <section className="card" aria-labelledby="move-h">
      <h2 id="move-h">{t("ib.move")}</h2>
      <form noValidate onSubmit={submit}>
        <FormAlert errors={errors} />
        {notice ? <Notice tone="success">{notice}</Notice> : null}
        <div className="filters">
          <TextField label={t("ib.ibId")} name="ibId" errors={errors} value={form.ibId} onChange={(e) => setForm({ ...form, ibId: e.target.value })} required />
          <TextField label={t("ib.newParentId")} name="newParentId" errors={errors} value={form.newParentId} onChange={(e) => setForm({ ...form, newParentId: e.target.value })} />
          <TextField label={t("ib.effectiveFrom")} name="effectiveFrom" type="datetime-local" errors={errors} value={form.effectiveFrom} onChange={(e) => setForm({ ...form, effectiveFrom: e.target.value })} required />
          <TextField label={t("ib.reason")} name="reason" errors={errors} value={form.reason} onChange={(e) => setForm({ ...form, reason: e.target.value })} required />
        </div>
        <div className="actions"><button type="submit">{t("ib.moveSave")}</button></div>
      </form>
    </section>
  );
}

/** Now, to the second, as the instant a payout run may take ("2026-12-04T14:30:00Z"): everything accrued before it. */
function nowInstant(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function Payouts({ canRun, onRan }: { canRun: boolean; onRan: () => void }) {
  const { t } = useI18n();
  const client = useClient();
  const [period, setPeriod] = useState(nowInstant);
  const [preview, setPreview] = useState<{ period: string; dues: StaffIbPayoutPreviewQuery["ibPayoutPreview"] } | null>(null);
  const [run, setRun] = useState<NonNullable<StaffRunIbPayoutsMutation["runIbPayouts"]["run"]> | null>(null);
  const [busy, setBusy] = useState(false);
  const [, runPayouts] = useMutation(RunPayoutsMutation);
  const [, approvePayout] = useMutation(ApprovePayoutMutation);
  const key = useMemo(() => ({ period: "", key: "" }), []);
  const errors = useFormErrors(["period", "payoutId"]);
  const [notice, setNotice] = useState<string | null>(null);
  const showPreview = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setRun(null);
    setNotice(null);
    const r = await client.query(PayoutPreviewQuery, { period: period.trim() }, { requestPolicy: "network-only" }).toPromise();
    setBusy(false);
    if (r.error) {
      const first = r.error.graphQLErrors[0];
      const code = first ? errorCode(first) ?? "ERROR" : "ERROR";
      errors.set([{ field: code === "IB_PAYOUT_PERIOD_INVALID" || code === "IB_PAYOUT_PERIOD_NOT_CLOSED" ? "period" : null, message: first?.message ?? r.error.message, code }]);
      setPreview(null);
      return;
    }
    errors.clear();
    setPreview({ period: period.trim(), dues: r.data?.ibPayoutPreview ?? [] });
  };
  const runNow = async () => {
    if (!preview) return;
    if (key.period !== preview.period) { key.period = preview.period; key.key = newIdempotencyKey(); }
    const r = await runPayouts({ input: { period: preview.period, idempotencyKey: key.key } });
    const payload = r.data?.runIbPayouts;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setRun(payload.run ?? null);
    onRan();
    setNotice(t("ib.payoutsRan", { period: payload.run?.periodKey ?? preview.period, created: payload.run?.created.length ?? 0 }));
  };
  const release = async (id: string) => {
    const r = await approvePayout({ input: { payoutId: id } });
    const payload = r.data?.approveIbPayout;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("ib.payoutReleased"));
  };
  const payable = preview?.dues.some((d) => d.outcome === "PAY" || d.outcome === "HOLD") ?? false;
  return (
    <section className="card" aria-labelledby="payouts-h">
      <h2 id="payouts-h">{t("ib.payouts")}</h2>
      <p>{t("ib.payoutsExplain")}</p>
      <form noValidate onSubmit={showPreview}>
        <FormAlert errors={errors} />
        <TextField label={t("ib.period")} name="period" errors={errors} value={period} onChange={(e) => setPeriod(e.target.value)} hint={t("ib.periodHint")} required />
        <div className="actions">
          <button type="submit" disabled={busy}>{t("ib.preview")}</button>
          {canRun && preview && payable ? <button type="button" className="secondary" onClick={() => void runNow()}>{t("ib.runPayouts", { period: preview.period })}</button> : null}
        </div>
      </form>
      {busy ? <Loading /> : null}
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {preview ? (preview.dues.length === 0 ? <p data-testid="payout-preview-empty">{t("ib.nothingDue")}</p> : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ib.previewOf", { period: preview.period })}><table data-testid="payout-preview">
          <caption>{t("ib.previewOf", { period: preview.period })}</caption>
          <thead><tr><th scope="col">{t("ib.ib")}</th><th scope="col" className="num">{t("ib.lines")}</th><th scope="col" className="num">{t("ib.due")}</th>
            <th scope="col" className="num">{t("ib.minimum")}</th><th scope="col">{t("ib.outcome")}</th></tr></thead>
          <tbody>{preview.dues.map((d) => (
            <tr key={`${d.ibId}-${d.currency}`}><th scope="row">{d.ibId}</th><td className="num">{d.lines}</td>
              <td className="num"><Money amount={d.amount} currency={d.currency} /></td><td className="num"><Money amount={d.minimum} currency={d.currency} /></td>
              <td>{t(`ibOutcome.${d.outcome}`)}</td></tr>
          ))}</tbody>
        </table></div>
      )) : null}
      {run ? (
        <ul aria-label={t("ib.runResult")}>{[...run.created, ...run.existing].map((p) => (
          <li key={p.id}>{p.ibId}: <Money amount={p.amount} currency={p.currency} /> — {p.status}
            {p.status === "held" && canRun ? <> <button type="button" className="link" onClick={() => void release(p.id)}>{t("ib.release")}</button></> : null}</li>
        ))}</ul>
      ) : null}
    </section>
  );
}

function Disputes() {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const canResolve = has(viewer?.permissions, "ib.manage_plans");
  const [status, setStatus] = useState("open");
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error, fetching }, refetch] = useQuery({ query: DisputesQuery, variables: { ...cursor, status: status || null } });
  const [, resolve] = useMutation(ResolveDisputeMutation);
  const [form, setForm] = useState({ reason: "", adjustment: "", currency: "USD" });
  const errors = useFormErrors(["reason", "adjustment", "currency"]);
  const [notice, setNotice] = useState<string | null>(null);
  const decide = async (id: string, accept: boolean) => {
    const r = await resolve({ input: { disputeId: id, accept, reason: form.reason.trim(), adjustment: accept && form.adjustment.trim() ? form.adjustment.trim() : null,
      currency: accept && form.adjustment.trim() ? form.currency.trim().toUpperCase() : null } });
    const payload = r.data?.resolveIbDispute;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("ib.disputeResolved", { status: payload.dispute?.status ?? "" }));
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="disputes-h">
      <h2 id="disputes-h">{t("ib.disputes")}</h2>
      <form className="filters" noValidate onSubmit={(e) => e.preventDefault()} aria-label={t("ib.disputes")}>
        <SelectField label={t("ib.disputeStatus")} name="disputeStatus" value={status} onChange={(e) => { setStatus(e.target.value); setCursor({ first: 10 }); }}>
          <option value="open">{t("ibDispute.open")}</option><option value="accepted">{t("ibDispute.accepted")}</option>
          <option value="rejected">{t("ibDispute.rejected")}</option><option value="">{t("pay.any")}</option>
        </SelectField>
        {canResolve ? (
          <>
            <TextField label={t("ib.reason")} name="reason" errors={errors} value={form.reason} onChange={(e) => setForm({ ...form, reason: e.target.value })} />
            <TextField label={t("ib.adjustment")} name="adjustment" errors={errors} value={form.adjustment} inputMode="decimal" onChange={(e) => setForm({ ...form, adjustment: e.target.value })} />
            <TextField label={t("ib.currency")} name="currency" errors={errors} value={form.currency} onChange={(e) => setForm({ ...form, currency: e.target.value })} />
          </>
        ) : null}
      </form>
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {fetching && !data ? <Loading /> : null}
      {data ? (data.ibDisputes.nodes.length === 0 ? <p>{t("ib.noDisputes")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ib.disputes")}><table>
            <caption className="sr-only">{t("ib.disputes")}</caption>
            <thead><tr><th scope="col">{t("ib.ib")}</th><th scope="col">{t("ib.disputeWhat")}</th><th scope="col">{t("ib.reason")}</th>
              <th scope="col">{t("ib.disputeStatus")}</th><th scope="col">{t("ib.applied")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th></tr></thead>
            <tbody>{data.ibDisputes.nodes.map((d) => (
              <tr key={d.id}><th scope="row">{d.ibId}</th>
                <td>{d.lineId ? t("ib.disputeLine", { line: d.lineId }) : `${d.periodFrom ? dateTime(d.periodFrom) : "…"} – ${d.periodTo ? dateTime(d.periodTo) : "…"}`}</td>
                <td>{d.reason}</td><td>{d.status}{d.resolution ? ` (${d.resolution})` : ""}</td><td>{dateTime(d.createdAt)}</td>
                <td>{canResolve && d.status === "open" ? (
                  <div className="actions">
                    <button type="button" aria-label={t("ib.acceptDispute", { id: d.databaseId })} onClick={() => void decide(d.id, true)}>{t("ib.accept")}</button>
                    <button type="button" className="secondary" aria-label={t("ib.rejectDispute", { id: d.databaseId })} onClick={() => void decide(d.id, false)}>{t("review.reject")}</button>
                  </div>
                ) : null}</td></tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.ibDisputes.pageInfo} size={10} onPage={setCursor} label={t("ib.disputes")} />
        </>
      )) : null}
    </section>
  );
}
