// Two-factor authentication is mandatory for staff: until it is on, this is the only screen.
import { FormAlert, Notice, PageTitle, TextField, useI18n, useSession, useTotpEnrolment } from "@forexcrm/portal-shared";

export function EnrolTotp() {
  const { t } = useI18n();
  const { reload } = useSession();
  const { enrolment, code, setCode, recovery, errors, begin, finish } = useTotpEnrolment();

  return (
    <>
      <PageTitle>{t("enrol.title")}</PageTitle>
      <section className="card" aria-labelledby="enrol-h">
        <h2 id="enrol-h">{t("enrol.heading")}</h2>
        {recovery ? (
          <>
            <Notice tone="success">
              <p>{t("enrol.done")}</p>
              <p>{t("enrol.recovery")}</p>
              <ul data-testid="recovery-codes">{recovery.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
            </Notice>
            <button type="button" onClick={() => void reload()}>{t("enrol.continue")}</button>
          </>
        ) : (
          <>
            <p>{t("enrol.explain")}</p>
            <FormAlert errors={errors} />
            {!enrolment ? <button type="button" onClick={() => void begin()}>{t("enrol.start")}</button> : (
              <form onSubmit={finish} noValidate>
                <p>{t("enrol.secret")} <code className="secret" data-testid="totp-secret">{enrolment.secret}</code></p>
                <p>{t("enrol.uri")} <a href={enrolment.uri}>otpauth://</a></p>
                <TextField label={t("enrol.code")} name="code" inputMode="numeric" autoComplete="one-time-code" required
                  value={code} onChange={(e) => setCode(e.target.value)} errors={errors} />
                <button type="submit">{t("enrol.confirm")}</button>
              </form>
            )}
          </>
        )}
      </section>
    </>
  );
}
