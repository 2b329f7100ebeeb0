// Regulatory reporting (needs regulatory.reports): the brokerage's EMIR/MiFIR reporting settings, a
// past day rebuilt with a reason (the worker builds it; the day's current files are superseded, never
// overwritten), the report files (status, records, SHA-256) with a download link each (audited), and
// the retail-client loss percentage in force (computed again for a quarter with risk.manage).
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import {
  FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession, useStepUp,
} from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { RegulatoryRegime } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 20;

const SettingsQuery = graphql(`
  query StaffRegulatorySettings {
    regulatorySettings { reportingLei submittingAgentLei receiverLei sector country masterAgreement }
  }
`);

const SetSettingsMutation = graphql(`
  mutation StaffSetRegulatorySettings($input: RegulatorySettingsInput!) {
    setRegulatorySettings(input: $input) {
      settings { reportingLei submittingAgentLei receiverLei sector country masterAgreement }
      errors { field message code }
    }
  }
`);

const FilesQuery = graphql(`
  query StaffRegulatoryFiles($businessDate: Date, $currentOnly: Boolean!, $first: Int, $after: String, $last: Int, $before: String) {
    regulatoryReportFiles(businessDate: $businessDate, currentOnly: $currentOnly, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id regime businessDate part parts messageId status records sizeBytes sha256 reason statusNote createdAt }
    }
  }
`);

const RebuildMutation = graphql(`
  mutation StaffRebuildRegulatoryReports($regime: RegulatoryRegime!, $day: Date!, $reason: String!, $correctionsOnly: Boolean!) {
    rebuildRegulatoryReports(regime: $regime, day: $day, reason: $reason, correctionsOnly: $correctionsOnly) {
      day errors { field message code }
    }
  }
`);

const FileLinkMutation = graphql(`
  mutation StaffRegulatoryFileLink($fileId: ID!) {
    regulatoryReportFileLink(fileId: $fileId) { link { url expiresAt } errors { field message code } }
  }
`);

const RetailLossQuery = graphql(`
  query StaffRetailLoss {
    retailLossPercentage { quarterStart periodFrom periodTo retailAccounts losingAccounts lossPercentage computedAt }
  }
`);

const ComputeRetailLossMutation = graphql(`
  mutation StaffComputeRetailLoss($quarter: Date!) {
    computeRetailLossPercentage(quarter: $quarter) {
      figure { quarterStart retailAccounts losingAccounts lossPercentage computedAt }
      errors { field message code }
    }
  }
`);

export function Regulatory() {
  const { t } = useI18n();
  const { viewer } = useSession();
  const [filesKey, setFilesKey] = useState(0);
  return (
    <>
      <PageTitle>{t("reg.title")}</PageTitle>
      <RetailLoss canCompute={!!viewer?.permissions.includes("risk.manage")} />
      <Settings />
      <Rebuild onQueued={() => setFilesKey((k) => k + 1)} />
      <Files key={filesKey} />
    </>
  );
}

function Settings() {
  const { t } = useI18n();
  const withStepUp = useStepUp();
  const [{ data, error, fetching }] = useQuery({ query: SettingsQuery });
  const [, save] = useMutation(SetSettingsMutation);
  const [form, setForm] = useState<Record<string, string> | null>(null);
  const [done, setDone] = useState(false);
  const fields = ["reportingLei", "submittingAgentLei", "receiverLei", "sector", "country", "masterAgreement"] as const;
  const errors = useFormErrors([...fields]);
  if (error && !data) return <QueryError error={error} />;
  if (fetching && !data) return <Loading />;
  const current = data?.regulatorySettings;
  const values = form ?? Object.fromEntries(fields.map((f) => [f, current?.[f] ?? ""]));

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(false);
    const input = {
      reportingLei: values.reportingLei.trim(), receiverLei: values.receiverLei.trim(), sector: values.sector.trim(),
      country: values.country.trim(), masterAgreement: values.masterAgreement.trim(),
      submittingAgentLei: values.submittingAgentLei.trim() || null,
    };
    const payload = await withStepUp(async () => (await save({ input })).data?.setRegulatorySettings);
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload));
      return;
    }
    errors.clear();
    setForm(null);
    setDone(true);
  };

  return (
    <section className="card" aria-labelledby="reg-set-h">
      <h2 id="reg-set-h">{t("reg.settings")}</h2>
      {!current ? <Notice>{t("reg.noSettings")}</Notice> : null}
      <form onSubmit={(e) => void submit(e)} noValidate>
        <FormAlert errors={errors} />
        {fields.map((f) => (
          <TextField key={f} label={t(`reg.${f}`)} name={f} errors={errors} value={values[f]}
            onChange={(e) => setForm({ ...values, [f]: e.target.value })} />
        ))}
        <button type="submit">{t("reg.saveSettings")}</button>
        {done ? <Notice tone="success">{t("reg.settingsSaved")}</Notice> : null}
      </form>
    </section>
  );
}

function Rebuild({ onQueued }: { onQueued: () => void }) {
  const { t, date } = useI18n();
  const withStepUp = useStepUp();
  const [, rebuild] = useMutation(RebuildMutation);
  const [regime, setRegime] = useState<RegulatoryRegime>("EMIR");
  const [day, setDay] = useState("");
  const [reason, setReason] = useState("");
  const [correctionsOnly, setCorrectionsOnly] = useState(false);
  const [queued, setQueued] = useState<string | null>(null);
  const errors = useFormErrors(["regime", "day", "reason", "correctionsOnly"]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setQueued(null);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) {
      errors.set([{ field: "day", message: t("reg.chooseDay"), code: "VALIDATION_FAILED" }]);
      return;
    }
    const payload = await withStepUp(async () => (await rebuild({ regime, day, reason, correctionsOnly })).data?.rebuildRegulatoryReports);
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload));
      return;
    }
    errors.clear();
    setReason("");
    setQueued(t("reg.queued", { regime, day: date(`${payload.day ?? day}T12:00:00Z`) }));
    onQueued();
  };

  return (
    <section className="card" aria-labelledby="reg-rb-h">
      <h2 id="reg-rb-h">{t("reg.rebuild")}</h2>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <FormAlert errors={errors} />
        <SelectField label={t("reg.regime")} name="regime" errors={errors} value={regime} onChange={(e) => setRegime(e.target.value as RegulatoryRegime)}>
          <option value="EMIR">EMIR</option>
          <option value="MIFIR">MiFIR</option>
        </SelectField>
        <TextField label={t("reg.day")} name="day" type="date" errors={errors} value={day} onChange={(e) => setDay(e.target.value)} />
        <TextField label={t("reg.reason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
        <div className={`field${errors.of("correctionsOnly") ? " field-invalid" : ""}`}>
          <label><input type="checkbox" checked={correctionsOnly} onChange={(e) => setCorrectionsOnly(e.target.checked)}
            aria-invalid={errors.of("correctionsOnly") ? true : undefined} aria-describedby={errors.of("correctionsOnly") ? "reg-corr-error" : undefined} /> {t("reg.correctionsOnly")}</label>
          {errors.of("correctionsOnly") ? <p id="reg-corr-error" className="field-error">{errors.of("correctionsOnly")!.message}</p> : null}
        </div>
        <button type="submit">{t("reg.rebuildButton")}</button>
      </form>
      {queued ? <Notice tone="success">{queued}</Notice> : null}
    </section>
  );
}

function Files() {
  const { t, dateTime, date } = useI18n();
  const [businessDate, setBusinessDate] = useState("");
  const [currentOnly, setCurrentOnly] = useState(true);
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const variables = { businessDate: /^\d{4}-\d{2}-\d{2}$/.test(businessDate) ? businessDate : null, currentOnly, ...cursor };
  const [{ data, error, fetching }, refetch] = useQuery({ query: FilesQuery, variables, requestPolicy: "cache-and-network" });
  const [, issue] = useMutation(FileLinkMutation);
  const [links, setLinks] = useState<Record<string, string>>({});
  const errors = useFormErrors([]);

  const download = async (id: string) => {
    const result = await issue({ fileId: id });
    const payload = result.data?.regulatoryReportFileLink;
    if (!payload?.link || payload.errors.length > 0) {
      errors.set(errorsOf(payload, result.error));
      return;
    }
    errors.clear();
    setLinks((l) => ({ ...l, [id]: payload.link!.url }));
  };

  return (
    <section className="card" aria-labelledby="reg-files-h">
      <h2 id="reg-files-h">{t("reg.files")}</h2>
      <form className="inline" onSubmit={(e) => { e.preventDefault(); setCursor({ first: PAGE }); }} noValidate>
        <TextField label={t("reg.businessDate")} name="businessDate" type="date" value={businessDate} onChange={(e) => { setBusinessDate(e.target.value); setCursor({ first: PAGE }); }} />
        <div className="field"><label><input type="checkbox" checked={currentOnly} onChange={(e) => { setCurrentOnly(e.target.checked); setCursor({ first: PAGE }); }} /> {t("reg.currentOnly")}</label></div>
        <button type="button" className="secondary" onClick={() => refetch({ requestPolicy: "network-only" })}>{t("reg.refresh")}</button>
      </form>
      <FormAlert errors={errors} />
      {error && !data ? <QueryError error={error} /> : null}
      {fetching && !data ? <Loading /> : null}
      {data ? (data.regulatoryReportFiles.nodes.length === 0 ? <p data-testid="reg-no-files">{t("reg.noFiles")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("reg.files")}>
            <table data-testid="reg-files">
              <caption className="sr-only">{t("reg.files")}</caption>
              <thead><tr>
                <th scope="col">{t("reg.file")}</th><th scope="col">{t("reg.businessDate")}</th><th scope="col">{t("reg.status")}</th>
                <th scope="col" className="num">{t("reg.records")}</th><th scope="col" className="num">{t("reg.size")}</th>
                <th scope="col">SHA-256</th><th scope="col">{t("reg.built")}</th><th scope="col"><span className="sr-only">{t("reg.download")}</span></th>
              </tr></thead>
              <tbody>
                {data.regulatoryReportFiles.nodes.map((f) => (
                  <tr key={f.id}>
                    <th scope="row">{f.regime.toUpperCase()} {t("reg.part", { part: f.part, parts: f.parts })}<br /><small>{f.messageId}</small></th>
                    <td>{date(`${f.businessDate}T12:00:00Z`)}</td>
                    <td>{t(`reg.fileStatus.${f.status}`)}{f.statusNote ? <><br /><small>{f.statusNote}</small></> : null}</td>
                    <td className="num">{f.records}</td>
                    <td className="num">{f.sizeBytes}</td>
                    <td><code className="hash" data-testid="reg-sha256">{f.sha256}</code></td>
                    <td>{dateTime(f.createdAt)}{f.reason ? <><br /><small>{f.reason}</small></> : null}</td>
                    <td>{links[f.id]
                      ? <a href={links[f.id]} download={`${f.messageId}.xml`} data-testid="reg-download">{t("reg.downloadFile", { name: f.messageId })}</a>
                      : <button type="button" className="secondary" aria-label={t("reg.linkFor", { name: f.messageId })} onClick={() => void download(f.id)}>{t("reg.download")}</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.regulatoryReportFiles.pageInfo} size={PAGE} onPage={setCursor} label={t("reg.files")} />
        </>
      )) : null}
    </section>
  );
}

function RetailLoss({ canCompute }: { canCompute: boolean }) {
  const { t, date, dateTime, number } = useI18n();
  const [{ data, error }, refetch] = useQuery({ query: RetailLossQuery });
  const [, compute] = useMutation(ComputeRetailLossMutation);
  const [quarter, setQuarter] = useState("");
  const errors = useFormErrors(["quarter"]);
  const figure = data?.retailLossPercentage;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(quarter)) {
      errors.set([{ field: "quarter", message: t("reg.chooseQuarter"), code: "VALIDATION_FAILED" }]);
      return;
    }
    const result = await compute({ quarter });
    const payload = result.data?.computeRetailLossPercentage;
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload, result.error));
      return;
    }
    errors.clear();
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <section className="card" aria-labelledby="reg-rl-h">
      <h2 id="reg-rl-h">{t("reg.retailLoss")}</h2>
      {error && !data ? <QueryError error={error} /> : !data ? <Loading /> : !figure ? <p>{t("reg.noRetailLoss")}</p> : (
        <dl className="facts" data-testid="retail-loss">
          <div><dt>{t("reg.lossPercentage")}</dt><dd>{figure.lossPercentage === null || figure.lossPercentage === undefined ? t("reg.noTrading") : `${number(String(figure.lossPercentage))} %`}</dd></div>
          <div><dt>{t("reg.quarter")}</dt><dd>{date(`${figure.quarterStart}T12:00:00Z`)}</dd></div>
          <div><dt>{t("reg.period")}</dt><dd>{dateTime(figure.periodFrom)} – {dateTime(figure.periodTo)}</dd></div>
          <div><dt>{t("reg.accounts")}</dt><dd>{t("reg.losing", { losing: figure.losingAccounts, total: figure.retailAccounts })}</dd></div>
          <div><dt>{t("reg.computedAt")}</dt><dd>{dateTime(figure.computedAt)}</dd></div>
        </dl>
      )}
      {canCompute ? (
        <form onSubmit={(e) => void submit(e)} noValidate>
          <FormAlert errors={errors} />
          <TextField label={t("reg.quarterStart")} name="quarter" type="date" errors={errors} value={quarter}
            onChange={(e) => setQuarter(e.target.value)} hint={t("reg.quarterHint")} />
          <button type="submit">{t("reg.compute")}</button>
        </form>
      ) : null}
    </section>
  );
}
