// Sign-in with e-mail and password; when the account has 2FA the API answers TOTP_REQUIRED and the
// form asks for the authenticator code as a second step.
import { useState, type ReactNode } from "react";
import { useSession } from "./session";
import { useI18n } from "./i18n";
import { FormAlert, TextField, useFormErrors } from "./forms";
import { Notice, PageTitle } from "./ui";

export function SignIn({ footer }: { footer?: ReactNode }) {
  const { signIn, reason } = useSession();
  const { t } = useI18n();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [totpCode, setTotpCode] = useState("");
  const [needsTotp, setNeedsTotp] = useState(false);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(["email", "password", "totpCode"]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const result = await signIn({ email, password, totpCode: needsTotp ? totpCode.trim() : undefined });
    setBusy(false);
    if (result.some((e) => e.code === "TOTP_REQUIRED")) {
      setNeedsTotp(true);
      errors.clear();
      return;
    }
    errors.set(result);
  };

  return (
    <main id="main" className="narrow">
      <PageTitle>{t("signin.title")}</PageTitle>
      {reason && reason !== "signedOut" ? <Notice>{t(`signin.${reason}`)}</Notice> : null}
      {reason === "signedOut" ? <Notice tone="success">{t("signin.signedOut")}</Notice> : null}
      <form onSubmit={submit} noValidate aria-labelledby="page-title">
        <FormAlert errors={errors} />
        <TextField label={t("signin.email")} name="email" type="email" autoComplete="username" required
          value={email} onChange={(e) => setEmail(e.target.value)} errors={errors} readOnly={needsTotp} />
        <TextField label={t("signin.password")} name="password" type="password" autoComplete="current-password" required
          value={password} onChange={(e) => setPassword(e.target.value)} errors={errors} readOnly={needsTotp} />
        {needsTotp ? (
          <TextField label={t("signin.totp")} name="totpCode" inputMode="numeric" autoComplete="one-time-code" required autoFocus
            hint={t("signin.totpHelp")} value={totpCode} onChange={(e) => setTotpCode(e.target.value)} errors={errors} />
        ) : null}
        <button type="submit" disabled={busy}>{t("signin.submit")}</button>
      </form>
      {footer}
    </main>
  );
}
