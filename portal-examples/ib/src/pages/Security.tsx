// Two-factor authentication: enrol an authenticator (the secret and its otpauth:// link, confirmed with a
// first code; the recovery codes shown once), or turn it off (the API asks for a step-up first). The pieces
// are the shared package's (useTotpEnrolment, useTotpDisable, the step-up prompt).
import { FormAlert, Notice, PageTitle, TextField, useI18n, useSession, useTotpDisable, useTotpEnrolment } from "@forexcrm/portal-shared";

export function SecurityPage() {
  const { t } = useI18n();
  const { viewer, reload } = useSession();
  const { enrolment, code, setCode, recovery, errors, begin, finish } = useTotpEnrolment(reload);
  const off = useTotpDisable(reload);

  return (
    <>
      <PageTitle>{t("security.title")}</PageTitle>
      <section className="card" aria-labelledby="totp-h">
        <h2 id="totp-h">{t("security.twoFactor")}</h2>
        {recovery ? (
          <Notice tone="success">
            <p>{t("security.twoFactorOn")}</p>
            <p>{t("security.recoveryCodes")}</p>
            <ul data-testid="recovery-codes">{recovery.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
          </Notice>
        ) : null}
        {viewer?.twoFactorEnabled ? (
          <>
            {recovery ? null : <p data-testid="totp-state">{t("security.twoFactorOn")}</p>}
            <FormAlert errors={off.errors} />
            <button type="button" className="secondary" onClick={() => void off.disable()}>{t("security.disable")}</button>
          </>
        ) : (
          <>
            <p data-testid="totp-state">{t("security.twoFactorOff")}</p>
            <FormAlert errors={errors} />
            {!enrolment ? <button type="button" onClick={() => void begin()}>{t("security.enrol")}</button> : (
              <form onSubmit={finish} noValidate aria-label={t("security.enrol")}>
                <p>{t("security.secret")} <code className="secret" data-testid="totp-secret">{enrolment.secret}</code></p>
                <p>{t("security.uri")} <a href={enrolment.uri}>{t("security.uriLink")}</a></p>
                <TextField label={t("security.code")} name="code" inputMode="numeric" autoComplete="one-time-code" required
                  value={code} onChange={(e) => setCode(e.target.value)} errors={errors} />
                <button type="submit">{t("security.confirm")}</button>
              </form>
            )}
          </>
        )}
      </section>
    </>
  );
}
