// The application: e-mail confirmation, 2FA, profile, documents (multipart upload; the ones sent so far
// with their review status, `myDocuments`), the appropriateness questionnaire, then submission; the status
// is shown throughout.
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  ErrorMessage, FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, uploadRequest, useFormErrors, useI18n, useSession,
  type FieldError,
} from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { COUNTRIES, countryName } from "../countries";

const OnboardingQuery = graphql(`
  query ClientOnboarding {
    me { id emailVerified twoFactorEnabled }
    myClient { id status kind firstName lastName country dateOfBirth riskCategory blockedProducts }
    questionnaire { version questions { id text options { id text } } }
  }
`);

const DocumentsQuery = graphql(`
  query ClientMyDocuments($first: Int, $after: String) {
    myDocuments(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id kind status rejectReason filename expiresOn uploadedAt }
    }
  }
`);

const DOCUMENTS_PAGE = 20;

const ProfileMutation = graphql(`
  mutation ClientUpdateProfile($input: ProfileInput!) {
    updateMyProfile(input: $input) { client { id status firstName lastName country dateOfBirth } errors { field message code } }
  }
`);

const UploadMutation = graphql(`
  mutation ClientUploadDocument($kind: String!, $file: Upload!, $expiresOn: Date) {
    uploadDocument(kind: $kind, file: $file, expiresOn: $expiresOn) {
      document { id kind status filename sizeBytes }
      errors { field message code }
    }
  }
`);

const QuestionnaireMutation = graphql(`
  mutation ClientSubmitQuestionnaire($answers: [AnswerInput!]!) {
    submitQuestionnaire(answers: $answers) { result { score riskCategory blockedProducts at } errors { field message code } }
  }
`);

const SubmitMutation = graphql(`
  mutation ClientSubmitApplication {
    submitApplication { client { id status } errors { field message code } }
  }
`);

const EMPLOYMENT = ["employed", "self_employed", "unemployed", "retired", "student"];
const SOURCES = ["salary", "savings", "investments", "business", "inheritance", "pension", "other"];

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  return <strong data-testid="application-status" className={`status status-${status.toLowerCase()}`}>{t(`status.${status}`)}</strong>;
}

function ProfileForm({ onSaved }: { onSaved: () => void }) {
  const { t, locale } = useI18n();
  const [, save] = useMutation(ProfileMutation);
  const fields = ["firstName", "lastName", "dateOfBirth", "country", "nationality", "phone", "addressLine", "city", "postalCode",
    "taxCountry", "tin", "employmentStatus", "sourceOfFunds", "occupation"] as const;
  const errors = useFormErrors([...fields, "taxResidencies"]);
  const [form, setForm] = useState<Record<(typeof fields)[number], string>>(
    Object.fromEntries(fields.map((f) => [f, ""])) as Record<(typeof fields)[number], string>,
  );
  const [saved, setSaved] = useState(false);
  const set = (name: (typeof fields)[number]) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm({ ...form, [name]: e.target.value });

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaved(false);
    const { taxCountry, tin, nationality, ...rest } = form;
    const result = await save({ input: { ...rest, nationality: nationality || null, taxResidencies: [{ country: taxCountry || form.country, tin }] } });
    const payload = result.data?.updateMyProfile;
    // The API names a tax residency's fields "taxResidencies.0.country" / ".tin".
    const mapped: FieldError[] = errorsOf(payload, result.error).map((e) =>
      e.field === "taxResidencies.0.country" ? { ...e, field: "taxCountry" } : e.field === "taxResidencies.0.tin" ? { ...e, field: "tin" } : e);
    errors.set(payload?.errors.length === 0 ? [] : mapped);
    if (payload && payload.errors.length === 0) {
      setSaved(true);
      onSaved();
    }
  };
  const countryOptions = COUNTRIES.map((c) => <option key={c} value={c}>{countryName(c, locale)}</option>);
  return (
    <form onSubmit={submit} noValidate aria-labelledby="profile-h">
      <FormAlert errors={errors} />
      {saved ? <Notice tone="success">{t("profile.saved")}</Notice> : null}
      <div className="grid">
        <TextField label={t("profile.firstName")} name="firstName" autoComplete="given-name" required value={form.firstName} onChange={set("firstName")} errors={errors} />
        <TextField label={t("profile.lastName")} name="lastName" autoComplete="family-name" required value={form.lastName} onChange={set("lastName")} errors={errors} />
        <TextField label={t("profile.dateOfBirth")} name="dateOfBirth" type="date" autoComplete="bday" required value={form.dateOfBirth} onChange={set("dateOfBirth")} errors={errors} />
        <SelectField label={t("profile.country")} name="country" required value={form.country} onChange={set("country")} errors={errors}>
          <option value="">—</option>{countryOptions}
        </SelectField>
        <SelectField label={t("profile.nationality")} name="nationality" value={form.nationality} onChange={set("nationality")} errors={errors}>
          <option value="">—</option>{countryOptions}
        </SelectField>
        <TextField label={t("profile.phone")} name="phone" type="tel" autoComplete="tel" required value={form.phone} onChange={set("phone")} errors={errors} hint={t("profile.phoneHint")} />
        <TextField label={t("profile.address")} name="addressLine" autoComplete="street-address" required value={form.addressLine} onChange={set("addressLine")} errors={errors} />
        <TextField label={t("profile.city")} name="city" autoComplete="address-level2" required value={form.city} onChange={set("city")} errors={errors} />
        <TextField label={t("profile.postalCode")} name="postalCode" autoComplete="postal-code" required value={form.postalCode} onChange={set("postalCode")} errors={errors} />
        <SelectField label={t("profile.taxCountry")} name="taxCountry" value={form.taxCountry} onChange={set("taxCountry")} errors={errors}>
          <option value="">{t("profile.sameAsCountry")}</option>{countryOptions}
        </SelectField>
        <TextField label={t("profile.tin")} name="tin" required value={form.tin} onChange={set("tin")} errors={errors} />
        <SelectField label={t("profile.employment")} name="employmentStatus" required value={form.employmentStatus} onChange={set("employmentStatus")} errors={errors}>
          <option value="">—</option>
          {EMPLOYMENT.map((v) => <option key={v} value={v}>{t(`employment.${v}`)}</option>)}
        </SelectField>
        <SelectField label={t("profile.sourceOfFunds")} name="sourceOfFunds" required value={form.sourceOfFunds} onChange={set("sourceOfFunds")} errors={errors}>
          <option value="">—</option>
          {SOURCES.map((v) => <option key={v} value={v}>{t(`funds.${v}`)}</option>)}
        </SelectField>
        <TextField label={t("profile.occupation")} name="occupation" value={form.occupation} onChange={set("occupation")} errors={errors} />
      </div>
      <button type="submit">{t("profile.save")}</button>
    </form>
  );
}

/** The documents sent so far, oldest first, each with its review status and why it was rejected. */
function MyDocuments({ version }: { version: number }) {
  const { t, date, dateTime } = useI18n();
  const [after, setAfter] = useState<string | null>(null);
  const [{ data, error, fetching }, refetch] = useQuery({ query: DocumentsQuery, variables: { first: DOCUMENTS_PAGE, after } });
  useEffect(() => {
    if (version > 0) refetch({ requestPolicy: "network-only" }); // an upload (or another step) just changed the list
  }, [version, refetch]);
  if (fetching && !data) return <Loading />;
  if (!data) return <ErrorMessage error={error ?? { message: "no data" }} />;
  const page = data.myDocuments;
  if (page.nodes.length === 0 && !after) return <p>{t("documents.none")}</p>;
  return (
    <>
      <div className="table-wrap" tabIndex={0} role="region" aria-label={t("documents.sent")}>
        <table data-testid="my-documents">
          <caption>{t("documents.sent")}</caption>
          <thead><tr>
            <th scope="col">{t("documents.kind")}</th><th scope="col">{t("documents.file")}</th>
            <th scope="col">{t("documents.uploadedAt")}</th><th scope="col">{t("documents.expiresOn")}</th>
            <th scope="col">{t("documents.status")}</th>
          </tr></thead>
          <tbody>
            {page.nodes.map((d) => (
              <tr key={d.id}>
                <th scope="row">{t(`documents.${d.kind}`)}</th>
                <td>{d.filename}</td>
                <td>{dateTime(d.uploadedAt)}</td>
                <td>{d.expiresOn ? date(d.expiresOn) : "—"}</td>
                <td>
                  <span className={`status status-${d.status}`}>{t(`documents.status.${d.status}`)}</span>
                  {d.rejectReason ? <> — {d.rejectReason}</> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="actions">
        {after ? <button type="button" className="secondary" onClick={() => setAfter(null)}>{t("documents.first")}</button> : null}
        {page.pageInfo.hasNextPage ? (
          <button type="button" className="secondary" onClick={() => setAfter(page.pageInfo.endCursor ?? null)}>{t("documents.more")}</button>
        ) : null}
      </div>
    </>
  );
}

function DocumentUpload({ kind, expiring, onUploaded }: { kind: string; expiring: boolean; onUploaded: () => void }) {
  const { t } = useI18n();
  const errors = useFormErrors(["file", "expiresOn"]);
  const [file, setFile] = useState<File | null>(null);
  const [expiresOn, setExpiresOn] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!file) {
      errors.set([{ field: "file", message: t("documents.chooseFile"), code: "VALIDATION_FAILED" }]);
      return;
    }
    setBusy(true);
    const result = await uploadRequest<{ uploadDocument: { document: { filename: string } | null; errors: FieldError[] } }>(
      "/graphql", UploadMutation, { kind, expiresOn: expiring && expiresOn ? expiresOn : null }, { file },
    ).catch((e: Error) => ({ data: undefined, errors: [{ message: e.message }] }));
    setBusy(false);
    const payload = result.data?.uploadDocument;
    errors.set(errorsOf(payload, result.errors?.[0]));
    if (payload?.document) {
      setDone(payload.document.filename);
      onUploaded();
    }
  };
  return (
    <form onSubmit={submit} noValidate className="card" aria-labelledby={`doc-${kind}`}>
      <h3 id={`doc-${kind}`}>{t(`documents.${kind}`)}</h3>
      <FormAlert errors={errors} />
      {done ? <Notice tone="success">{t("documents.uploaded", { name: done })}</Notice> : null}
      <TextField label={t("documents.file")} name="file" type="file" accept=".pdf,.jpg,.jpeg,.png,.webp,.heic,application/pdf,image/*"
        onChange={(e) => setFile(e.target.files?.[0] ?? null)} errors={errors} hint={t("documents.types")} />
      {expiring ? (
        <TextField label={t("documents.expiresOn")} name="expiresOn" type="date" value={expiresOn} onChange={(e) => setExpiresOn(e.target.value)} errors={errors} />
      ) : null}
      <button type="submit" disabled={busy}>{t("documents.upload")}</button>
    </form>
  );
}

export function Onboarding() {
  const { t } = useI18n();
  const { reload: reloadSession } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: OnboardingQuery });
  const [, answer] = useMutation(QuestionnaireMutation);
  const [, submitApplication] = useMutation(SubmitMutation);
  const [answers, setAnswers] = useState<Record<string, string>>({});
  const questionErrors = useFormErrors(["answers"]);
  const submitErrors = useFormErrors([]);
  const [result, setResult] = useState<{ riskCategory: string; score: number } | null>(null);
  const [uploads, setUploads] = useState(0);
  const reload = () => {
    refetch({ requestPolicy: "network-only" });
    setUploads((n) => n + 1);
    void reloadSession();
  };

  if (fetching && !data) return <Loading />;
  if (!data) return <ErrorMessage error={error ?? { message: "no data" }} />;
  const client = data.myClient;

  const sendAnswers = async (event: React.FormEvent) => {
    event.preventDefault();
    const list = Object.entries(answers).map(([question, option]) => ({ question, option }));
    const res = await answer({ answers: list });
    const payload = res.data?.submitQuestionnaire;
    questionErrors.set(errorsOf(payload, res.error));
    if (payload?.result) {
      setResult(payload.result);
      reload();
    }
  };
  const submit = async () => {
    const res = await submitApplication({});
    const payload = res.data?.submitApplication;
    submitErrors.set(errorsOf(payload, res.error));
    if (payload?.client) reload();
  };

  return (
    <>
      <PageTitle>{t("onboarding.title")}</PageTitle>
      {client ? <p>{t("onboarding.status")}: <StatusBadge status={client.status} /></p> : <Notice>{t("onboarding.notClient")}</Notice>}
      <section className="card" aria-labelledby="email-h">
        <h2 id="email-h">1. {t("onboarding.email")}</h2>
        {data.me?.emailVerified ? <p>✓ {t("onboarding.emailDone")}</p> : <p>{t("onboarding.emailPending")}</p>}
      </section>
      <section className="card" aria-labelledby="tfa-h">
        <h2 id="tfa-h">2. {t("security.twoFactor")}</h2>
        {data.me?.twoFactorEnabled ? <p>✓ {t("security.twoFactorOn")}</p> : <p>{t("onboarding.tfaPending")} <Link to="/security">{t("security.enrol")}</Link></p>}
      </section>
      <section className="card" aria-labelledby="profile-h">
        <h2 id="profile-h">3. {t("onboarding.profile")}</h2>
        {client?.firstName ? <p>✓ {client.firstName} {client.lastName}</p> : null}
        <ProfileForm onSaved={reload} />
      </section>
      <section className="card" aria-labelledby="docs-h">
        <h2 id="docs-h">4. {t("onboarding.documents")}</h2>
        <div className="grid">
          <DocumentUpload kind="proof_of_identity" expiring onUploaded={reload} />
          <DocumentUpload kind="proof_of_address" expiring={false} onUploaded={reload} />
        </div>
        <MyDocuments version={uploads} />
      </section>
      <section className="card" aria-labelledby="q-h">
        <h2 id="q-h">5. {t("onboarding.questionnaire")}</h2>
        {result ? <Notice tone="success">{t("onboarding.questionnaireDone", { category: result.riskCategory })}</Notice> : null}
        <form onSubmit={sendAnswers} noValidate>
          <FormAlert errors={questionErrors} />
          {data.questionnaire.questions.map((q) => (
            <fieldset key={q.id}>
              <legend>{q.text}</legend>
              {q.options.map((o) => (
                <label key={o.id} className="choice">
                  <input type="radio" name={`q-${q.id}`} value={o.id} checked={answers[q.id] === o.id}
                    onChange={() => setAnswers({ ...answers, [q.id]: o.id })} /> {o.text}
                </label>
              ))}
            </fieldset>
          ))}
          <button type="submit">{t("onboarding.sendAnswers")}</button>
        </form>
      </section>
      <section className="card" aria-labelledby="submit-h">
        <h2 id="submit-h">6. {t("onboarding.submit")}</h2>
        <FormAlert errors={submitErrors} />
        <button type="button" onClick={() => void submit()}>{t("onboarding.submitButton")}</button>
      </section>
    </>
  );
}
