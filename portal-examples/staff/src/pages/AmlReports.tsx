// Suspicious transaction reports to the FIU (goAML STR/SAR; needs compliance.reports): the reporting
// entity every report carries (set once), the reports by status; a report started from a case closed
// with "risk confirmed" (on the case's page), its draft edited (narrative, action, the FIU's indicator
// codes), submitted (the API validates the goAML document against the FIU's XSD: each message is shown
// with the element it names), approved by a second officer who sees who submitted it (four eyes) or
// returned with a reason, exported as the XML file to upload, and the FIU's answer recorded (its
// reference, accepted or rejected, on a date).
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { AmlReportCode, AmlReportFiuStatus, AmlReportStatus, StaffAmlReportQuery, StaffAmlReportingEntityQuery } from "../gql/graphql";
import { Pager, QueryError, databaseIdOf, type Cursor } from "./common";
import { useWho } from "./who";

const PAGE = 20;
const STATUSES: AmlReportStatus[] = ["DRAFT", "PENDING_APPROVAL", "APPROVED", "EXPORTED"];
const CODES: AmlReportCode[] = ["STR", "SAR"];
const FIU_STATUSES: AmlReportFiuStatus[] = ["SUBMITTED", "ACCEPTED", "REJECTED"];

const ReportsQuery = graphql(`
  query StaffAmlReports($caseId: ID, $status: [AmlReportStatus!], $first: Int, $after: String, $last: Int, $before: String) {
    amlReports(caseId: $caseId, status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId caseId reportCode status entityReference fiuRefNumber fiuStatus createdAt }
    }
  }
`);

const EntityQuery = graphql(`
  query StaffAmlReportingEntity {
    amlReportingEntity { rentityId branch name localCurrency country address city contactFirstName contactLastName contactEmail contactOccupation }
  }
`);

const ReportQuery = graphql(`
  query StaffAmlReport($id: ID!) {
    node(id: $id) {
      ... on AmlReport {
        id databaseId caseId userId reportCode entityReference status reason action indicators paymentIds
        createdById submittedById submittedAt approvedById approvedAt exportedById exportedAt
        fiuRefNumber fiuStatus fiuStatusOn createdAt updatedAt
      }
    }
  }
`);

const SetEntityMutation = graphql(`
  mutation StaffSetAmlReportingEntity($entity: AmlReportingEntityInput!) {
    setAmlReportingEntity(entity: $entity) { entity { rentityId name } errors { field message code } }
  }
`);

const CreateReportMutation = graphql(`
  mutation StaffCreateAmlReport($caseId: ID!, $reportCode: AmlReportCode!, $reason: String!, $indicators: [String!]!, $action: String!) {
    createAmlReport(caseId: $caseId, reportCode: $reportCode, reason: $reason, indicators: $indicators, action: $action) { report { id } errors { field message code } }
  }
`);

const UpdateReportMutation = graphql(`
  mutation StaffUpdateAmlReport($reportId: ID!, $reason: String, $action: String, $indicators: [String!]) {
    updateAmlReport(reportId: $reportId, reason: $reason, action: $action, indicators: $indicators) { report { id reason action indicators } errors { field message code } }
  }
`);

const SubmitReportMutation = graphql(`
  mutation StaffSubmitAmlReport($reportId: ID!) {
    submitAmlReport(reportId: $reportId) { report { id status } errors { field message code } }
  }
`);

const ApproveReportMutation = graphql(`
  mutation StaffApproveAmlReport($reportId: ID!) {
    approveAmlReport(reportId: $reportId) { report { id status } errors { field message code } }
  }
`);

const ReturnReportMutation = graphql(`
  mutation StaffReturnAmlReport($reportId: ID!, $reason: String!) {
    returnAmlReport(reportId: $reportId, reason: $reason) { report { id status } errors { field message code } }
  }
`);

const ExportReportMutation = graphql(`
  mutation StaffExportAmlReport($reportId: ID!) {
    exportAmlReport(reportId: $reportId) { report { id status } xml filename errors { field message code } }
  }
`);

const FiuStatusMutation = graphql(`
  mutation StaffRecordAmlReportFiuStatus($reportId: ID!, $status: AmlReportFiuStatus!, $on: Date!, $reference: String) {
    recordAmlReportFiuStatus(reportId: $reportId, status: $status, on: $on, reference: $reference) { report { id fiuStatus fiuRefNumber } errors { field message code } }
  }
`);

type Payload = { errors: readonly FieldError[] } | null | undefined;

function codes(text: string): string[] {
  return text.split(/[\s,;]+/).map((c) => c.trim()).filter(Boolean);
}

/** The reports (of every case, or of one, on its page). */
export function ReportList({ caseId }: { caseId?: string }) {
  const { t, dateTime } = useI18n();
  const [status, setStatus] = useState<AmlReportStatus | "">("");
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }] = useQuery({ query: ReportsQuery, variables: { ...cursor, caseId: caseId ?? null, status: status ? [status] : null } });
  const title = t("str.reports");
  return (
    <section className="card" aria-labelledby="str-list-h">
      <h2 id="str-list-h">{title}</h2>
      {caseId ? null : (
        <div className="filters">
          <SelectField label={t("str.status")} name="status" value={status} onChange={(e) => { setStatus(e.target.value as AmlReportStatus | ""); setCursor({ first: PAGE }); }}>
            <option value="">{t("str.anyStatus")}</option>
            {STATUSES.map((s) => <option key={s} value={s}>{t(`str.status.${s}`)}</option>)}
          </SelectField>
        </div>
      )}
      {fetching && !data ? <Loading /> : null}
      <QueryError error={data ? undefined : error} />
      {data ? (data.amlReports.nodes.length === 0 ? <p>{t("str.none")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table data-testid="str-reports">
              <caption className="sr-only">{title}</caption>
              <thead><tr><th scope="col">{t("str.report")}</th><th scope="col">{t("str.code")}</th><th scope="col">{t("str.status")}</th>
                <th scope="col">{t("aml.case")}</th><th scope="col">{t("str.fiu")}</th><th scope="col">{t("aml.created")}</th></tr></thead>
              <tbody>{data.amlReports.nodes.map((r) => (
                <tr key={r.id}>
                  <th scope="row"><Link to={`/aml/reports/${encodeURIComponent(r.id)}`}>{t("str.reportNo", { id: r.databaseId })}</Link></th>
                  <td>{r.reportCode}</td>
                  <td><span className="status">{t(`str.status.${r.status}`)}</span></td>
                  <td><Link to={`/aml/cases/${encodeURIComponent(r.caseId)}`}>{t("aml.caseNo", { id: databaseIdOf(r.caseId) })}</Link></td>
                  <td>{r.fiuStatus ? `${t(`str.fiu.${r.fiuStatus}`)}${r.fiuRefNumber ? ` (${r.fiuRefNumber})` : ""}` : "—"}</td>
                  <td>{dateTime(r.createdAt)}</td>
                </tr>
              ))}</tbody>
            </table>
          </div>
          <Pager info={data.amlReports.pageInfo} size={PAGE} onPage={setCursor} label={title} />
        </>
      )) : null}
    </section>
  );
}

export function AmlReports() {
  const { t } = useI18n();
  const [entity, refetchEntity] = useQuery({ query: EntityQuery });
  if (entity.error && !entity.data) return <QueryError error={entity.error} title={t("str.title")} />;
  return (
    <>
      <PageTitle>{t("str.title")}</PageTitle>
      <p><Link to="/aml/cases">{t("aml.casesTitle")}</Link></p>
      <ReportList />
      {entity.data ? <ReportingEntity current={entity.data.amlReportingEntity ?? null} onChanged={() => refetchEntity({ requestPolicy: "network-only" })} /> : <Loading />}
    </>
  );
}

type Entity = NonNullable<StaffAmlReportingEntityQuery["amlReportingEntity"]>;
const ENTITY_FIELDS = ["rentityId", "name", "localCurrency", "country", "address", "city", "contactFirstName", "contactLastName", "contactEmail", "contactOccupation", "branch"] as const;

function ReportingEntity({ current, onChanged }: { current: Entity | null; onChanged: () => void }) {
  const { t } = useI18n();
  const [, save] = useMutation(SetEntityMutation);
  const initial = Object.fromEntries(ENTITY_FIELDS.map((f) => [f, current && current[f] !== null && current[f] !== undefined ? String(current[f]) : ""])) as Record<(typeof ENTITY_FIELDS)[number], string>;
  const [form, setForm] = useState(initial);
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors([...ENTITY_FIELDS]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!/^\d+$/.test(form.rentityId.trim())) { errors.set([{ field: "rentityId", message: t("str.rentityNumber"), code: "VALIDATION_FAILED" }]); return; }
    const optional = (v: string) => v.trim() || null;
    const r = await save({ entity: {
      rentityId: Number(form.rentityId.trim()), name: form.name.trim(), localCurrency: form.localCurrency.trim().toUpperCase(),
      country: form.country.trim().toUpperCase(), address: form.address.trim(), city: form.city.trim(),
      contactFirstName: form.contactFirstName.trim(), contactLastName: form.contactLastName.trim(),
      contactEmail: optional(form.contactEmail), contactOccupation: optional(form.contactOccupation), branch: optional(form.branch),
    } });
    const payload = r.data?.setAmlReportingEntity;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); setNotice(null); return; }
    errors.clear();
    setNotice(t("str.entitySaved"));
    onChanged();
  };
  return (
    <section className="card" aria-labelledby="str-entity-h">
      <h2 id="str-entity-h">{t("str.entity")}</h2>
      {current ? null : <Notice>{t("str.entityMissing")}</Notice>}
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <form noValidate onSubmit={submit}>
        <FormAlert errors={errors} />
        <div className="grid two">
          {ENTITY_FIELDS.map((f) => (
            <TextField key={f} label={t(`str.entity.${f}`)} name={f} errors={errors} value={form[f]} onChange={(e) => setForm({ ...form, [f]: e.target.value })}
              inputMode={f === "rentityId" ? "numeric" : undefined} />
          ))}
        </div>
        <div className="actions"><button type="submit">{t("str.saveEntity")}</button></div>
      </form>
    </section>
  );
}

/** On a case closed with "risk confirmed": its reports and a new one. */
export function CaseReports({ caseId }: { caseId: string }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [, create] = useMutation(CreateReportMutation);
  const [form, setForm] = useState({ reportCode: "STR" as AmlReportCode, reason: "", indicators: "", action: "" });
  const errors = useFormErrors(["reportCode", "reason", "indicators", "action"]);
  return (
    <>
      <ReportList caseId={caseId} />
      <section className="card" aria-labelledby="str-new-h">
        <h2 id="str-new-h">{t("str.start")}</h2>
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          const r = await create({ caseId, reportCode: form.reportCode, reason: form.reason.trim(), indicators: codes(form.indicators), action: form.action.trim() });
          const payload = r.data?.createAmlReport;
          if (!payload?.report || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
          navigate(`/aml/reports/${encodeURIComponent(payload.report.id)}`);
        }}>
          <FormAlert errors={errors} />
          <SelectField label={t("str.code")} name="reportCode" errors={errors} value={form.reportCode} onChange={(e) => setForm({ ...form, reportCode: e.target.value as AmlReportCode })}>
            {CODES.map((c) => <option key={c} value={c}>{t(`str.code.${c}`)}</option>)}
          </SelectField>
          <NarrativeFields form={form} setForm={(next) => setForm({ ...form, ...next })} errors={errors} />
          <div className="actions"><button type="submit">{t("str.create")}</button></div>
        </form>
      </section>
    </>
  );
}

function NarrativeFields({ form, setForm, errors }: { form: { reason: string; indicators: string; action: string }; setForm: (next: Partial<{ reason: string; indicators: string; action: string }>) => void; errors: ReturnType<typeof useFormErrors> }) {
  const { t } = useI18n();
  const error = errors.of("reason");
  return (
    <>
      <div className={`field${error ? " field-invalid" : ""}`}>
        <label htmlFor="str-reason">{t("str.reason")}</label>
        <textarea id="str-reason" rows={5} value={form.reason} onChange={(e) => setForm({ reason: e.target.value })}
          aria-invalid={error ? true : undefined} aria-describedby={error ? "str-reason-error" : undefined} />
        {error ? <p id="str-reason-error" className="field-error" data-code={error.code}>{error.message}</p> : null}
      </div>
      <TextField label={t("str.indicators")} name="indicators" errors={errors} hint={t("str.indicatorsHint")} value={form.indicators} onChange={(e) => setForm({ indicators: e.target.value })} />
      <TextField label={t("str.action")} name="action" errors={errors} value={form.action} onChange={(e) => setForm({ action: e.target.value })} />
    </>
  );
}

type Report = Extract<NonNullable<StaffAmlReportQuery["node"]>, { entityReference: string }>;

export function AmlReportView() {
  const { id = "" } = useParams();
  const { t, dateTime, date } = useI18n();
  const [{ data, error, fetching }, refetch] = useQuery({ query: ReportQuery, variables: { id } });
  const r = data?.node && "entityReference" in data.node ? (data.node as Report) : null;
  const who = useWho(r ? [r.createdById, r.submittedById, r.approvedById, r.exportedById] : []);
  if (fetching && !data) return <Loading />;
  if (error && !data) return <QueryError error={error} title={t("str.title")} />;
  if (!r) return <><PageTitle>{t("str.noSuch")}</PageTitle><Notice tone="error">{t("str.noSuch")}</Notice></>;
  const refresh = () => refetch({ requestPolicy: "network-only" });
  return (
    <>
      <PageTitle>{t("str.reportNo", { id: r.databaseId })}</PageTitle>
      <p><Link to="/aml/reports">{t("str.title")}</Link> · <Link to={`/aml/cases/${encodeURIComponent(r.caseId)}`}>{t("aml.caseNo", { id: databaseIdOf(r.caseId) })}</Link></p>
      <section className="card" aria-labelledby="str-facts-h">
        <h2 id="str-facts-h">{t("str.report")}</h2>
        <dl className="facts" data-testid="str-facts">
          <div><dt>{t("str.code")}</dt><dd>{t(`str.code.${r.reportCode}`)}</dd></div>
          <div><dt>{t("str.status")}</dt><dd><span className="status" data-testid="str-status">{t(`str.status.${r.status}`)}</span></dd></div>
          <div><dt>{t("str.reference")}</dt><dd><code>{r.entityReference}</code></dd></div>
          <div><dt>{t("str.payments")}</dt><dd>{r.paymentIds.length}</dd></div>
          <div><dt>{t("str.createdBy")}</dt><dd>{who(r.createdById)}, {dateTime(r.createdAt)}</dd></div>
          {r.submittedAt ? <div><dt>{t("str.submittedBy")}</dt><dd data-testid="str-submitted-by">{who(r.submittedById)}, {dateTime(r.submittedAt)}</dd></div> : null}
          {r.approvedAt ? <div><dt>{t("str.approvedBy")}</dt><dd>{who(r.approvedById)}, {dateTime(r.approvedAt)}</dd></div> : null}
          {r.exportedAt ? <div><dt>{t("str.exportedBy")}</dt><dd>{who(r.exportedById)}, {dateTime(r.exportedAt)}</dd></div> : null}
          {r.fiuStatus ? <div><dt>{t("str.fiu")}</dt><dd data-testid="str-fiu">{t(`str.fiu.${r.fiuStatus}`)}{r.fiuStatusOn ? `, ${date(r.fiuStatusOn)}` : ""}{r.fiuRefNumber ? ` · ${r.fiuRefNumber}` : ""}</dd></div> : null}
        </dl>
        <h3>{t("str.reason")}</h3>
        <p>{r.reason}</p>
        <p><strong>{t("str.indicators")}:</strong> {r.indicators.join(", ")}{r.action ? <> · <strong>{t("str.action")}:</strong> {r.action}</> : null}</p>
      </section>
      <ReportSteps report={r} onChanged={refresh} />
    </>
  );
}

/** What the report's status allows: edit and submit a draft, approve or return a submitted one, export an approved one, record the FIU's answer. */
function ReportSteps({ report, onChanged }: { report: Report; onChanged: () => void }) {
  const { t } = useI18n();
  const { viewer } = useSession();
  const [, update] = useMutation(UpdateReportMutation);
  const [, submit] = useMutation(SubmitReportMutation);
  const [, approve] = useMutation(ApproveReportMutation);
  const [, giveBack] = useMutation(ReturnReportMutation);
  const [, exportIt] = useMutation(ExportReportMutation);
  const [, record] = useMutation(FiuStatusMutation);
  const [form, setForm] = useState({ reason: report.reason, indicators: report.indicators.join(", "), action: report.action });
  const [returnReason, setReturnReason] = useState("");
  const [fiu, setFiu] = useState({ status: "SUBMITTED" as AmlReportFiuStatus, on: new Date().toISOString().slice(0, 10), reference: "" });
  const [file, setFile] = useState<{ url: string; name: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["reason", "indicators", "action", "returnReason", "status", "on", "reference"]);
  const finish = (payload: Payload, transport: { message: string } | undefined, ok: string): boolean => {
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, transport)); setNotice(null); return false; }
    errors.clear();
    setNotice(ok);
    onChanged();
    return true;
  };
  const mineSubmitted = !!viewer && !!report.submittedById && databaseIdOf(report.submittedById) === viewer.id;
  return (
    <section className="card" aria-labelledby="str-steps-h" data-testid="str-steps">
      <h2 id="str-steps-h">{t("str.steps")}</h2>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      {report.status === "DRAFT" ? (
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          const r = await update({ reportId: report.id, reason: form.reason.trim(), action: form.action.trim(), indicators: codes(form.indicators) });
          finish(r.data?.updateAmlReport, r.error, t("str.saved"));
        }}>
          <NarrativeFields form={form} setForm={(next) => setForm({ ...form, ...next })} errors={errors} />
          <div className="actions">
            <button type="submit" className="secondary">{t("str.save")}</button>
            <button type="button" onClick={async () => {
              const r = await submit({ reportId: report.id });
              finish(r.data?.submitAmlReport, r.error, t("str.submitted"));
            }}>{t("str.submit")}</button>
          </div>
        </form>
      ) : null}
      {report.status === "PENDING_APPROVAL" ? (
        <form className="filters" noValidate onSubmit={(e) => e.preventDefault()}>
          <p>{mineSubmitted ? t("str.waitsForSecond") : t("str.secondEyes")}</p>
          <TextField label={t("str.returnReason")} name="returnReason" errors={errors} value={returnReason} onChange={(e) => setReturnReason(e.target.value)} />
          <div className="actions">
            <button type="button" onClick={async () => {
              const r = await approve({ reportId: report.id });
              finish(r.data?.approveAmlReport, r.error, t("str.approved"));
            }}>{t("str.approve")}</button>
            <button type="button" className="secondary" onClick={async () => {
              const r = await giveBack({ reportId: report.id, reason: returnReason.trim() });
              // The API names its `reason` argument; on this form that is the return's reason field (the
              // narrative's "reason" field is not shown while the report waits for approval).
              const payload = r.data?.returnAmlReport;
              finish(payload ? { ...payload, errors: payload.errors.map((e) => (e.field === "reason" ? { ...e, field: "returnReason" } : e)) } : payload, r.error, t("str.returned"));
            }}>{t("str.return")}</button>
          </div>
        </form>
      ) : null}
      {report.status === "APPROVED" || report.status === "EXPORTED" ? (
        <div className="actions">
          <button type="button" onClick={async () => {
            const r = await exportIt({ reportId: report.id });
            const payload = r.data?.exportAmlReport;
            if (finish(payload, r.error, t("str.exported")) && payload?.xml) {
              if (file) URL.revokeObjectURL(file.url);
              setFile({ url: URL.createObjectURL(new Blob([payload.xml], { type: "application/xml" })), name: payload.filename ?? `report-${report.databaseId}.xml` });
            }
          }}>{t("str.export")}</button>
          {file ? <a href={file.url} download={file.name} data-testid="str-download">{t("str.download", { name: file.name })}</a> : null}
        </div>
      ) : null}
      {report.status === "EXPORTED" ? (
        <form noValidate onSubmit={async (e) => {
          e.preventDefault();
          const r = await record({ reportId: report.id, status: fiu.status, on: fiu.on, reference: fiu.reference.trim() || null });
          finish(r.data?.recordAmlReportFiuStatus, r.error, t("str.fiuRecorded"));
        }}>
          <h3>{t("str.fiuAnswer")}</h3>
          <div className="filters">
            <SelectField label={t("str.fiuStatus")} name="status" errors={errors} value={fiu.status} onChange={(e) => setFiu({ ...fiu, status: e.target.value as AmlReportFiuStatus })}>
              {FIU_STATUSES.map((s) => <option key={s} value={s}>{t(`str.fiu.${s}`)}</option>)}
            </SelectField>
            <TextField label={t("str.on")} name="on" type="date" errors={errors} value={fiu.on} onChange={(e) => setFiu({ ...fiu, on: e.target.value })} />
            <TextField label={t("str.fiuReference")} name="reference" errors={errors} value={fiu.reference} onChange={(e) => setFiu({ ...fiu, reference: e.target.value })} />
          </div>
          <div className="actions"><button type="submit">{t("str.recordFiu")}</button></div>
        </form>
      ) : null}
    </section>
  );
}
