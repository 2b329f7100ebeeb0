// Brokerage configuration: whether a country is served, regulated (and by whom), high risk (its
// clients need two approvals), under ESMA retail caps (needs config.manage).
import { useState } from "react";
import { useMutation } from "urql";
import { FormAlert, Notice, PageTitle, TextField, useFormErrors, useI18n, useStepUp } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const SetJurisdictionMutation = graphql(`
  mutation StaffSetJurisdiction($country: String!, $served: Boolean!, $regulated: Boolean!, $regulator: String!, $highRisk: Boolean!, $esmaRetailCaps: Boolean!) {
    setJurisdiction(country: $country, served: $served, regulated: $regulated, regulator: $regulator, highRisk: $highRisk, esmaRetailCaps: $esmaRetailCaps) {
      ok errors { field message code }
    }
  }
`);

export function Jurisdictions() {
  const { t } = useI18n();
  const withStepUp = useStepUp();
  const [, save] = useMutation(SetJurisdictionMutation);
  const [form, setForm] = useState({ country: "", regulator: "", served: true, regulated: true, highRisk: false, esmaRetailCaps: false });
  const [saved, setSaved] = useState<string | null>(null);
  const errors = useFormErrors(["country", "regulator"]);
  const flag = (name: "served" | "regulated" | "highRisk" | "esmaRetailCaps") => (
    <label className="choice" key={name}>
      <input type="checkbox" checked={form[name]} onChange={(e) => setForm({ ...form, [name]: e.target.checked })} /> {t(`jur.${name}`)}
    </label>
  );
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaved(null);
    const variables = { ...form, country: form.country.trim().toUpperCase() };
    const payload = await withStepUp(async () => (await save(variables)).data?.setJurisdiction);
    if (payload?.ok) {
      errors.clear();
      setSaved(t("jur.saved", { country: variables.country }));
    } else errors.set(payload?.errors ?? [{ field: null, message: "error", code: "INTERNAL_SERVER_ERROR" }]);
  };
  return (
    <>
      <PageTitle>{t("jur.title")}</PageTitle>
      <form className="card" onSubmit={submit} noValidate>
        <FormAlert errors={errors} />
        {saved ? <Notice tone="success">{saved}</Notice> : null}
        <TextField label={t("jur.country")} name="country" hint={t("jur.countryHint")} maxLength={2} required autoCapitalize="characters"
          value={form.country} onChange={(e) => setForm({ ...form, country: e.target.value })} errors={errors} />
        <TextField label={t("jur.regulator")} name="regulator" value={form.regulator}
          onChange={(e) => setForm({ ...form, regulator: e.target.value })} errors={errors} />
        <fieldset>
          <legend>{t("jur.flags")}</legend>
          {flag("served")}{flag("regulated")}{flag("highRisk")}{flag("esmaRetailCaps")}
        </fieldset>
        <button type="submit">{t("common.save")}</button>
      </form>
    </>
  );
}
