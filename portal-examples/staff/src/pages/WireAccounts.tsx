// The bank accounts wire deposits are paid into (needs payments.methods.manage to change): one per wire
// payment method rule (code, currency, country), shown to clients with a wire deposit's reference.
// `setWireBankDetails` checks the IBAN's check digits and the BIC, each refusal beside its field.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { QueryError } from "./common";

const WireMethodsQuery = graphql(`
  query StaffWireMethods {
    paymentMethodConfigs {
      id code kind currency country displayName enabled
      bankDetails { iban bic beneficiaryName beneficiaryAddress bankName }
    }
  }
`);

const SetWireBankDetailsMutation = graphql(`
  mutation StaffSetWireBankDetails($methodId: ID!, $input: WireBankDetailsInput!) {
    setWireBankDetails(methodId: $methodId, input: $input) {
      method { id bankDetails { iban bic beneficiaryName beneficiaryAddress bankName } }
      errors { field message code }
    }
  }
`);

const FIELDS = ["iban", "bic", "beneficiaryName", "beneficiaryAddress", "bankName"] as const;
type Account = Record<(typeof FIELDS)[number], string>;
const EMPTY: Account = { iban: "", bic: "", beneficiaryName: "", beneficiaryAddress: "", bankName: "" };

export function WireAccounts({ canEdit }: { canEdit: boolean }) {
  const { t } = useI18n();
  const [{ data, error, fetching }, refetch] = useQuery({ query: WireMethodsQuery });
  const [editing, setEditing] = useState<{ id: string; label: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const wires = data?.paymentMethodConfigs.filter((m) => m.kind === "WIRE") ?? [];
  return (
    <section className="card" aria-labelledby="wire-accounts-h">
      <h2 id="wire-accounts-h">{t("wire.title")}</h2>
      <p>{t("wire.explain")}</p>
      {fetching && !data ? <Loading /> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {done ? <Notice tone="success">{done}</Notice> : null}
      {data && wires.length === 0 ? <p>{t("wire.none")}</p> : null}
      {wires.length > 0 ? (
        <div className="table-wrap" tabIndex={0} role="region" aria-label={t("wire.title")}><table data-testid="wire-accounts">
          <caption className="sr-only">{t("wire.title")}</caption>
          <thead><tr><th scope="col">{t("wire.method")}</th><th scope="col">{t("wire.iban")}</th><th scope="col">{t("wire.bic")}</th>
            <th scope="col">{t("wire.beneficiary")}</th><th scope="col">{t("wire.bank")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th></tr></thead>
          <tbody>{wires.map((m) => {
            const label = `${m.displayName} — ${m.currency}, ${m.country === "*" ? t("wire.allCountries") : m.country}`;
            const d = m.bankDetails;
            return (
              <tr key={m.id}>
                <th scope="row">{label}</th>
                <td>{d?.iban ?? "—"}</td><td>{d?.bic ?? "—"}</td>
                <td>{d ? <>{d.beneficiaryName}<br /><span className="muted">{d.beneficiaryAddress}</span></> : "—"}</td>
                <td>{d?.bankName ?? "—"}</td>
                <td>{canEdit ? (
                  <button type="button" className="secondary" aria-label={t("wire.editOne", { method: label })}
                    onClick={() => { setDone(null); setEditing({ id: m.id, label }); }}>{t("wire.edit")}</button>
                ) : null}</td>
              </tr>
            );
          })}</tbody>
        </table></div>
      ) : null}
      {editing ? (
        <AccountForm key={editing.id} methodId={editing.id} label={editing.label}
          initial={wires.find((m) => m.id === editing.id)?.bankDetails ?? EMPTY}
          onDone={(saved) => {
            setEditing(null);
            if (!saved) return;
            setDone(t("wire.saved", { method: editing.label }));
            refetch({ requestPolicy: "network-only" });
          }} />
      ) : null}
    </section>
  );
}

function AccountForm({ methodId, label, initial, onDone }: { methodId: string; label: string; initial: Account; onDone: (saved: boolean) => void }) {
  const { t } = useI18n();
  const [, save] = useMutation(SetWireBankDetailsMutation);
  const [form, setForm] = useState<Account>({ ...EMPTY, ...Object.fromEntries(FIELDS.map((f) => [f, initial[f]])) });
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors([...FIELDS, "methodId"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const result = await save({ methodId, input: form });
    setBusy(false);
    const payload = result.data?.setWireBankDetails;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, result.error)); return; }
    onDone(true);
  };
  return (
    <form noValidate onSubmit={submit} aria-labelledby="wire-form-h">
      <h3 id="wire-form-h">{t("wire.formTitle", { method: label })}</h3>
      <FormAlert errors={errors} />
      <div className="grid">
        <TextField label={t("wire.iban")} name="iban" required autoComplete="off" value={form.iban} errors={errors} onChange={(e) => setForm({ ...form, iban: e.target.value })} />
        <TextField label={t("wire.bic")} name="bic" required autoComplete="off" value={form.bic} errors={errors} onChange={(e) => setForm({ ...form, bic: e.target.value })} />
        <TextField label={t("wire.beneficiaryName")} name="beneficiaryName" required value={form.beneficiaryName} errors={errors} onChange={(e) => setForm({ ...form, beneficiaryName: e.target.value })} />
        <TextField label={t("wire.beneficiaryAddress")} name="beneficiaryAddress" required value={form.beneficiaryAddress} errors={errors} onChange={(e) => setForm({ ...form, beneficiaryAddress: e.target.value })} />
        <TextField label={t("wire.bank")} name="bankName" required value={form.bankName} errors={errors} onChange={(e) => setForm({ ...form, bankName: e.target.value })} />
      </div>
      <div className="actions">
        <button type="submit" disabled={busy}>{t("wire.save")}</button>
        <button type="button" className="secondary" onClick={() => onDone(false)}>{t("stepup.cancel")}</button>
      </div>
    </form>
  );
}
