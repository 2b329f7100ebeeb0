// Two-factor authentication: enrol an authenticator (the secret and its otpauth:// link, confirmed with a
// first code; the recovery codes shown once), or turn it off (the API asks for a step-up first). The pieces
// are the shared package's (useTotpEnrolment, useTotpDisable, the step-up prompt).
import { FormAlert, PageTitle, RecoveryCodesNotice, TotpEnrolForm, useI18n, useSession, useTotpDisable, useTotpEnrolment } from "@forexcrm/portal-shared";

export function SecurityPage() {
  const { t } = useI18n();
  const { viewer, reload } = useSession();
  const totp = useTotpEnrolment(reload);
  const { enrolment, recovery, errors, begin } = totp;
  const off = useTotpDisable(reload);

  return (
    <>
      <PageTitle>{t("security.title")}</PageTitle>
      <section className="card" aria-labelledby="totp-h">
        <h2 id="totp-h">{t("security.twoFactor")}</h2>
        {recovery ? <RecoveryCodesNotice codes={recovery} /> : null}
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
            {!enrolment ? <button type="button" onClick={() => void begin()}>{t("security.enrol")}</button>
              : <TotpEnrolForm totp={totp} formLabel={t("security.enrol")} linkText={t("security.uriLink")} />}
          </>
        )}
      </section>
    </>
  );
}
