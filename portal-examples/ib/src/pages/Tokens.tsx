// Partner API tokens (scope ib.tree.read): create one (its secret shown once), revoke. The API answers
// STEP_UP_REQUIRED when the session has not confirmed a code lately: the shared step-up prompt asks for one
// and sends the request again (needs 2FA, turned on in Security).
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { ErrorMessage, FormAlert, Loading, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n, useStepUp } from "@forexcrm/portal-shared";
import { CreateTokenMutation, RevokeTokenMutation, TokensQuery } from "../operations";

export function TokensPage() {
  const { t, dateTime } = useI18n();
  const withStepUp = useStepUp();
  const [{ data, fetching, error }, refetch] = useQuery({ query: TokensQuery });
  const [, create] = useMutation(CreateTokenMutation);
  const [, revoke] = useMutation(RevokeTokenMutation);
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const errors = useFormErrors(["name", "scopes", "expiresInDays"]);
  const revokeErrors = useFormErrors([]);
  const refresh = () => refetch({ requestPolicy: "network-only" });
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSecret(null);
    const payload = await withStepUp(async () => {
      const res = await create({ input: { name, scopes: ["ib.tree.read"], expiresInDays: 90 } });
      return res.data?.createApiToken ?? { token: null, apiToken: null, errors: errorsOf(null, res.error) };
    });
    errors.set(payload.errors);
    if (payload.errors.length === 0 && payload.token) {
      setSecret(payload.token);
      setName("");
      refresh();
    }
  };
  const revokeOne = async (id: string) => {
    const payload = await withStepUp(async () => {
      const res = await revoke({ id });
      return res.data?.revokeApiToken ?? { apiToken: null, errors: errorsOf(null, res.error) };
    });
    revokeErrors.set(payload.errors);
    refresh();
  };
  return (
    <>
      <PageTitle>{t("tokens.title")}</PageTitle>
      <p className="hint">{t("tokens.hint")}</p>
      {secret ? <Notice tone="success"><p>{t("tokens.once")}</p><code data-testid="token-secret">{secret}</code></Notice> : null}
      <form onSubmit={submit} noValidate aria-label={t("tokens.create")}>
        <FormAlert errors={errors} />
        <TextField label={t("tokens.name")} name="name" required value={name} onChange={(e) => setName(e.target.value)} errors={errors} />
        <button type="submit">{t("tokens.create")}</button>
      </form>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      <FormAlert errors={revokeErrors} />
      {data ? (
        <div className="table-wrap"><table>
          <thead><tr><th scope="col">{t("tokens.name")}</th><th scope="col">{t("tokens.expires")}</th><th scope="col"><span className="sr-only">{t("tokens.actions")}</span></th></tr></thead>
          <tbody>{data.myApiTokens.nodes.map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name} <span className="muted">…{k.lastFour}</span></th><td>{dateTime(k.expiresAt)}</td>
              <td>{k.revoked ? t("tokens.revoked") : (
                <button type="button" className="secondary" onClick={() => void revokeOne(k.id)}>{t("tokens.revoke", { name: k.name })}</button>
              )}</td>
            </tr>
          ))}</tbody>
        </table></div>
      ) : null}
    </>
  );
}
