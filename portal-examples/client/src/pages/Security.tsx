import { FormAlert, Notice, PageTitle, TextField, useI18n, useSession, useTotpEnrolment } from "@forexcrm/portal-shared";

export function Security() {
  const { t } = useI18n();
  const { viewer, reload } = useSession();
  const { enrolment, code, setCode, recovery, errors, begin, finish } = useTotpEnrolment(reload);

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
        ) : viewer?.twoFactorEnabled ? <p>{t("security.twoFactorOn")}</p> : (
          <>
            <p>{t("security.twoFactorOff")}</p>
            <FormAlert errors={errors} />
            {!enrolment ? <button type="button" onClick={() => void begin()}>{t("security.enrol")}</button> : (
              <form onSubmit={finish} noValidate>
                <p>{t("security.secret")} <code className="secret" data-testid="totp-secret">{enrolment.secret}</code></p>
                <p>{t("security.uri")} <a href={enrolment.uri}>otpauth://</a></p>
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
