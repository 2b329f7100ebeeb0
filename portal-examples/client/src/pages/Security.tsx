import { FormAlert, PageTitle, RecoveryCodesNotice, TotpEnrolForm, useI18n, useSession, useTotpEnrolment } from "@forexcrm/portal-shared";

export function Security() {
  const { t } = useI18n();
  const { viewer, reload } = useSession();
  const totp = useTotpEnrolment(reload);
  const { enrolment, recovery, errors, begin } = totp;

  return (
    <>
      <PageTitle>{t("security.title")}</PageTitle>
      <section className="card" aria-labelledby="totp-h">
        <h2 id="totp-h">{t("security.twoFactor")}</h2>
        {recovery ? <RecoveryCodesNotice codes={recovery} /> : viewer?.twoFactorEnabled ? <p>{t("security.twoFactorOn")}</p> : (
          <>
            <p>{t("security.twoFactorOff")}</p>
            <FormAlert errors={errors} />
            {!enrolment ? <button type="button" onClick={() => void begin()}>{t("security.enrol")}</button>
              : <TotpEnrolForm totp={totp} linkText="otpauth://" />}
          </>
        )}
      </section>
    </>
  );
}
