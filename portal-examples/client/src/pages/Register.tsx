import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { useMutation } from "urql";
import { FormAlert, PageTitle, TextField, errorsOf, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const RegisterMutation = graphql(`
  mutation ClientRegister($input: RegisterClientInput!) {
    registerClient(input: $input) {
      expiresIn
      client { id status }
      errors { field message code }
    }
  }
`);

export function Register() {
  const { t } = useI18n();
  const { adopt } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [, register] = useMutation(RegisterMutation);
  const [form, setForm] = useState({ email: "", password: "", displayName: "" });
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(["email", "password", "displayName"]);
  // An IB referral link (GET /r/<code> on the API) lands here with ib_code and utm_* parameters.
  const attribution = {
    ibCode: params.get("ib_code") ?? "",
    utmSource: params.get("utm_source") ?? "",
    utmMedium: params.get("utm_medium") ?? "",
    utmCampaign: params.get("utm_campaign") ?? "",
    utmContent: params.get("utm_content") ?? "",
    referrer: document.referrer.slice(0, 200),
    landingPage: window.location.pathname,
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const result = await register({
      input: { ...form, cookie: true, attribution },
    });
    setBusy(false);
    const payload = result.data?.registerClient;
    if (payload && payload.errors.length === 0 && payload.expiresIn) {
      navigate("/onboarding", { replace: true });
      await adopt(payload.expiresIn);
      return;
    }
    errors.set(errorsOf(payload, result.error));
  };
  const set = (name: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [name]: e.target.value });

  return (
    <main id="main" className="narrow">
      <PageTitle>{t("register.title")}</PageTitle>
      <form onSubmit={submit} noValidate aria-labelledby="page-title">
        <FormAlert errors={errors} />
        <TextField label={t("register.name")} name="displayName" autoComplete="name" value={form.displayName} onChange={set("displayName")} errors={errors} />
        <TextField label={t("signin.email")} name="email" type="email" autoComplete="email" required value={form.email} onChange={set("email")} errors={errors} />
        <TextField label={t("signin.password")} name="password" type="password" autoComplete="new-password" required
          hint={t("register.passwordHint")} value={form.password} onChange={set("password")} errors={errors} />
        <button type="submit" disabled={busy}>{t("register.submit")}</button>
      </form>
      <p>{t("register.haveAccount")} <Link to="/">{t("signin.title")}</Link></p>
    </main>
  );
}
