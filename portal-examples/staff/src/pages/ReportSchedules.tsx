// Scheduled reports (reports.read; loaded on first use): the signed-in staff member's schedules (a report with
// its dimension, period, granularity and top keys, an interval, a file format and recipients), created with
// the API's errors beside their fields; each schedule's runs newest first with their outcome, row count and
// SHA-256, and a download link for a finished run (the recipients are e-mailed one each run too).
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { ReportBucket, ReportFileFormat, ReportInterval, ReportPeriod, ScheduledReport } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 10;
const DIMENSIONS: Record<ScheduledReport, string[]> = {
  REVENUE: ["SYMBOL", "ASSET_CLASS", "SERVER", "GROUP", "BOOK", "DESK"],
  MONEY_FLOW: ["METHOD", "CURRENCY", "COUNTRY", "DESK"],
  FUNNEL: ["CAMPAIGN", "SOURCE", "COUNTRY", "IB"],
  CLIENTS: ["COUNTRY", "REGION", "CAMPAIGN", "SOURCE", "IB"],
  COHORTS: ["FIRST_DEPOSIT_MONTH"],
  IB_RETURN: ["IB"],
};
const PERIODS: ReportPeriod[] = ["LAST_DAY", "LAST_7_DAYS", "LAST_30_DAYS", "LAST_WEEK", "LAST_MONTH"];
const INTERVALS: ReportInterval[] = ["DAILY", "WEEKLY", "MONTHLY"];

const SchedulesQuery = graphql(`
  query StaffReportSchedules($first: Int, $after: String, $last: Int, $before: String) {
    reportSchedules(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId report dimension period bucket top interval format recipientIds paused nextRunAt createdAt }
    }
  }
`);

const CreateMutation = graphql(`
  mutation StaffCreateReportSchedule($input: ReportScheduleInput!) {
    createReportSchedule(input: $input) { schedule { id databaseId nextRunAt } errors { field message code } }
  }
`);

const RunsQuery = graphql(`
  query StaffReportRuns($scheduleId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    reportRuns(scheduleId: $scheduleId, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId dueAt since until status format rowCount sha256 error }
    }
  }
`);

const RunLinkMutation = graphql(`
  mutation StaffReportRunLink($runId: ID!) {
    reportRunLink(runId: $runId) { link { url expiresAt } errors { field message code } }
  }
`);

function CreateSchedule({ onCreated }: { onCreated: () => void }) {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [, create] = useMutation(CreateMutation);
  const [form, setForm] = useState({ report: "REVENUE" as ScheduledReport, dimension: "SYMBOL", period: "LAST_7_DAYS" as ReportPeriod,
    bucket: "DAY" as ReportBucket, top: "10", interval: "WEEKLY" as ReportInterval, format: "CSV" as ReportFileFormat, toMe: true, others: "" });
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["report", "dimension", "period", "bucket", "top", "interval", "format", "recipients"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    const top = Number(form.top);
    if (!/^\d+$/.test(form.top.trim())) { errors.set([{ field: "top", message: t("sched.topNumber"), code: "VALIDATION_FAILED" }]); return; }
    const recipients = [...(form.toMe && viewer ? [viewer.id] : []), ...form.others.split(/[\s,]+/).filter(Boolean)];
    const r = await create({ input: { report: form.report, interval: form.interval, format: form.format, recipients,
      filters: { dimension: form.dimension, period: form.period, bucket: form.bucket, top } } });
    const payload = r.data?.createReportSchedule;
    // A recipient's error names its index (recipients.2): shown beside the recipients' field.
    if (!payload?.schedule) { errors.set(errorsOf(payload, r.error).map((e) => (e.field?.startsWith("recipients.") ? { ...e, field: "recipients" } : e))); return; }
    errors.clear();
    setDone(t("sched.created", { id: payload.schedule.databaseId, next: dateTime(payload.schedule.nextRunAt) }));
    onCreated();
  };
  return (
    <form className="card" noValidate onSubmit={submit} aria-labelledby="sched-new-h">
      <h2 id="sched-new-h">{t("sched.new")}</h2>
      <FormAlert errors={errors} />
      {done ? <Notice tone="success">{done}</Notice> : null}
      <div className="grid two">
        <SelectField label={t("rep.report")} name="report" errors={errors} value={form.report}
          onChange={(e) => { const report = e.target.value as ScheduledReport; setForm({ ...form, report, dimension: DIMENSIONS[report][0] }); }}>
          {(Object.keys(DIMENSIONS) as ScheduledReport[]).map((k) => <option key={k} value={k}>{t(`rep.kind.${k}`)}</option>)}
        </SelectField>
        <SelectField label={t("rep.dimension")} name="dimension" errors={errors} value={form.dimension} onChange={(e) => setForm({ ...form, dimension: e.target.value })}>
          {DIMENSIONS[form.report].map((d) => <option key={d} value={d}>{t(`rep.dim.${d}`)}</option>)}
        </SelectField>
        <SelectField label={t("sched.period")} name="period" errors={errors} value={form.period} onChange={(e) => setForm({ ...form, period: e.target.value as ReportPeriod })}>
          {PERIODS.map((p) => <option key={p} value={p}>{t(`sched.period.${p}`)}</option>)}
        </SelectField>
        <SelectField label={t("rep.bucket")} name="bucket" errors={errors} value={form.bucket} onChange={(e) => setForm({ ...form, bucket: e.target.value as ReportBucket })}>
          {(["DAY", "WEEK", "MONTH"] as ReportBucket[]).map((b) => <option key={b} value={b}>{t(`rep.bucket.${b}`)}</option>)}
        </SelectField>
        <TextField label={t("sched.top")} name="top" inputMode="numeric" hint={t("sched.topHint")} errors={errors} value={form.top} onChange={(e) => setForm({ ...form, top: e.target.value })} />
        <SelectField label={t("sched.interval")} name="interval" errors={errors} value={form.interval} onChange={(e) => setForm({ ...form, interval: e.target.value as ReportInterval })}>
          {INTERVALS.map((i) => <option key={i} value={i}>{t(`sched.interval.${i}`)}</option>)}
        </SelectField>
        <SelectField label={t("sched.format")} name="format" errors={errors} value={form.format} onChange={(e) => setForm({ ...form, format: e.target.value as ReportFileFormat })}>
          <option value="CSV">CSV</option><option value="XLSX">XLSX</option>
        </SelectField>
        <fieldset>
          <legend>{t("sched.recipients")}</legend>
          <label className="choice"><input type="checkbox" checked={form.toMe} onChange={(e) => setForm({ ...form, toMe: e.target.checked })} /> {t("sched.toMe")}</label>
          <TextField label={t("sched.others")} name="recipients" hint={t("sched.othersHint")} errors={errors} value={form.others} onChange={(e) => setForm({ ...form, others: e.target.value })} />
        </fieldset>
      </div>
      <div className="actions"><button type="submit">{t("sched.create")}</button></div>
    </form>
  );
}

export function ReportSchedules() {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: SchedulesQuery, variables: cursor });
  const [selected, setSelected] = useState<{ id: string; label: string } | null>(null);
  if (error && !data) return <QueryError error={error} title={t("sched.title")} />;
  return (
    <>
      <PageTitle>{t("sched.title")}</PageTitle>
      <CreateSchedule onCreated={() => { setCursor({ first: PAGE }); refetch({ requestPolicy: "network-only" }); }} />
      <section className="card" aria-labelledby="sched-list-h">
        <h2 id="sched-list-h">{t("sched.list")}</h2>
        {fetching && !data ? <Loading /> : null}
        {data ? (data.reportSchedules.nodes.length === 0 ? <p>{t("sched.none")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("sched.list")}>
              <table data-testid="report-schedules">
                <thead><tr>
                  <th scope="col">#</th><th scope="col">{t("rep.report")}</th><th scope="col">{t("sched.period")}</th><th scope="col">{t("sched.interval")}</th>
                  <th scope="col">{t("sched.format")}</th><th scope="col" className="num">{t("sched.recipients")}</th><th scope="col">{t("sched.next")}</th>
                  <th scope="col"><span className="sr-only">{t("recon.actions")}</span></th>
                </tr></thead>
                <tbody>
                  {data.reportSchedules.nodes.map((s) => (
                    <tr key={s.id} data-testid={`schedule-${s.databaseId}`}>
                      <th scope="row">{s.databaseId}</th>
                      <td>{t(`rep.kind.${s.report}`)} · {t(`rep.dim.${s.dimension}`)} · {t(`rep.bucket.${s.bucket}`)} · {t("sched.topN", { n: s.top })}</td>
                      <td>{t(`sched.period.${s.period}`)}</td><td>{t(`sched.interval.${s.interval}`)}</td><td>{s.format}</td>
                      <td className="num">{s.recipientIds.length}</td>
                      <td>{s.paused ? t("sched.paused") : dateTime(s.nextRunAt)}</td>
                      <td><button type="button" className="secondary" aria-label={t("sched.runsOf", { id: s.databaseId })} aria-pressed={selected?.id === s.id}
                        onClick={() => setSelected({ id: s.id, label: String(s.databaseId) })}>{t("sched.runs")}</button></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager info={data.reportSchedules.pageInfo} size={PAGE} onPage={setCursor} label={t("sched.list")} />
          </>
        )) : null}
      </section>
      {selected ? <Runs key={selected.id} scheduleId={selected.id} label={selected.label} /> : null}
    </>
  );
}

function Runs({ scheduleId, label }: { scheduleId: string; label: string }) {
  const { t, dateTime, date } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error }] = useQuery({ query: RunsQuery, variables: { scheduleId, ...cursor } });
  const [, link] = useMutation(RunLinkMutation);
  const errors = useFormErrors([]);
  const title = t("sched.runsOf", { id: label });
  const download = async (runId: string) => {
    const r = await link({ runId });
    const payload = r.data?.reportRunLink;
    if (!payload?.link) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    window.location.assign(payload.link.url);
  };
  return (
    <section className="card" aria-labelledby="sched-runs-h" data-testid="report-runs">
      <h2 id="sched-runs-h">{title}</h2>
      <QueryError error={error} />
      <FormAlert errors={errors} />
      {!data ? <Loading /> : data.reportRuns.nodes.length === 0 ? <p>{t("sched.noRuns")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <thead><tr>
                <th scope="col">{t("sched.due")}</th><th scope="col">{t("rep.period")}</th><th scope="col">{t("recon.status")}</th>
                <th scope="col" className="num">{t("sched.rows")}</th><th scope="col">SHA-256</th><th scope="col"><span className="sr-only">{t("sched.download")}</span></th>
              </tr></thead>
              <tbody>
                {data.reportRuns.nodes.map((r) => (
                  <tr key={r.id}>
                    <th scope="row">{dateTime(r.dueAt)}</th><td>{date(r.since)} – {date(r.until)}</td>
                    <td>{t(`sched.status.${r.status}`)}{r.error ? `: ${r.error}` : ""}</td><td className="num">{r.rowCount}</td>
                    <td><code className="hash">{r.sha256 ?? "—"}</code></td>
                    <td>{r.status === "DONE" ? <button type="button" className="secondary" aria-label={t("sched.downloadOf", { at: dateTime(r.dueAt), format: r.format })}
                      onClick={() => download(r.id)}>{t("sched.download")} ({r.format})</button> : null}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.reportRuns.pageInfo} size={PAGE} onPage={setCursor} label={title} />
        </>
      )}
    </section>
  );
}
