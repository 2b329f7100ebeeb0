// Two-factor authentication is mandatory for staff: until it is on, this is the only screen.
import { useState } from "react";
import { useMutation } from "urql";
import { ConfirmTotpMutation, FormAlert, Notice, PageTitle, StartTotpMutation, TextField, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";

export function EnrolTotp() {
  const { t } = useI18n();
  const { reload } = useSession();
  const [, start] = useMutation(StartTotpMutation);
  const [, confirm] = useMutation(ConfirmTotpMutation);
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string } | null>(null);
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState<readonly string[] | null>(null);
  const errors = useFormErrors(["totpCode"]);

  const begin = async () => {
    const result = await start({});
    const payload = result.data?.startTotpEnrollment;
    if (payload?.secret && payload.provisioningUri) {
      errors.clear();
      setEnrolment({ secret: payload.secret, uri: payload.provisioningUri });
    } else errors.set(payload?.errors ?? [{ message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }]);
  };

  const finish = async (event: React.FormEvent) => {
    event.preventDefault();
    const result = await confirm({ code: code.trim() });
    const payload = result.data?.confirmTotpEnrollment;
    if (payload && payload.errors.length === 0) {
      setRecovery(payload.recoveryCodes ?? []);
      setEnrolment(null);
    } else errors.set(payload?.errors ?? [{ message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }]);
  };

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
                <TextField label={t("enrol.code")} name="totpCode" inputMode="numeric" autoComplete="one-time-code" required
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
