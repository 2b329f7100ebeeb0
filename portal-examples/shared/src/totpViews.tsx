// What the client and IB security pages show alike around useTotpEnrolment: the recovery codes (shown once,
// after the first code is confirmed) and the enrolment form (the secret, its otpauth:// link, the first code).
import { TextField } from "./forms";
import { useI18n } from "./i18n";
import type { TotpEnrolment } from "./totp";
import { Notice } from "./ui";

export function RecoveryCodesNotice({ codes }: { codes: readonly string[] }) {
  const { t } = useI18n();
  return (
    <Notice tone="success">
      <p>{t("security.twoFactorOn")}</p>
      <p>{t("security.recoveryCodes")}</p>
      <ul data-testid="recovery-codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
    </Notice>
  );
}

/** The form confirming an enrolment begun (nothing before `begin`); `formLabel` names the form, `linkText`
 * is the text of the otpauth:// link. */
export function TotpEnrolForm({ totp, formLabel, linkText }: { totp: TotpEnrolment; formLabel?: string; linkText: string }) {
  const { t } = useI18n();
  const { enrolment, code, setCode, errors, finish } = totp;
  if (!enrolment) return null;
  return (
    <form onSubmit={finish} noValidate aria-label={formLabel}>
      <p>{t("security.secret")} <code className="secret" data-testid="totp-secret">{enrolment.secret}</code></p>
      <p>{t("security.uri")} <a href={enrolment.uri}>{linkText}</a></p>
      <TextField label={t("security.code")} name="code" inputMode="numeric" autoComplete="one-time-code" required
        value={code} onChange={(e) => setCode(e.target.value)} errors={errors} />
      <button type="submit">{t("security.confirm")}</button>
    </form>
  );
}
