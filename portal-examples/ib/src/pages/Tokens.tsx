// Partner API tokens (scope ib.tree.read): create one (its secret shown once), revoke.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { ErrorMessage, FormAlert, Loading, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { CreateTokenMutation, RevokeTokenMutation, TokensQuery } from "../operations";

export function TokensPage() {
  const { t, dateTime } = useI18n();
  const [{ data, fetching, error }, refetch] = useQuery({ query: TokensQuery });
  const [, create] = useMutation(CreateTokenMutation);
  const [, revoke] = useMutation(RevokeTokenMutation);
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const errors = useFormErrors(["name", "scopes", "expiresInDays"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const res = await create({ input: { name, scopes: ["ib.tree.read"], expiresInDays: 90 } });
    const found = errorsOf(res.data?.createApiToken, res.error);
    errors.set(found);
    if (found.length === 0) {
      setSecret(res.data?.createApiToken.token ?? null);
      setName("");
      refetch({ requestPolicy: "network-only" });
    }
  };
  return (
    <>
      <PageTitle>{t("tokens.title")}</PageTitle>
      {secret ? <Notice tone="success"><p>{t("tokens.once")}</p><code data-testid="token-secret">{secret}</code></Notice> : null}
      <form onSubmit={submit} noValidate aria-label={t("tokens.create")}>
        <FormAlert errors={errors} />
        <TextField label={t("tokens.name")} name="name" required value={name} onChange={(e) => setName(e.target.value)} errors={errors} />
        <button type="submit">{t("tokens.create")}</button>
      </form>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      {data ? (
        <div className="table-wrap"><table>
          <thead><tr><th scope="col">{t("tokens.name")}</th><th scope="col">{t("tokens.expires")}</th><th scope="col"><span className="sr-only">{t("tokens.actions")}</span></th></tr></thead>
          <tbody>{data.myApiTokens.nodes.map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name} <span className="muted">…{k.lastFour}</span></th><td>{dateTime(k.expiresAt)}</td>
              <td>{k.revoked ? t("tokens.revoked") : (
                <button type="button" className="secondary" onClick={() => void revoke({ id: k.id }).then(() => refetch({ requestPolicy: "network-only" }))}>
                  {t("tokens.revoke", { name: k.name })}</button>
              )}</td>
            </tr>
          ))}</tbody>
        </table></div>
      ) : null}
    </>
  );
}
