// Signed-in devices (sign one out) and API tokens (creating one needs a step-up; its secret is shown once).
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n, useStepUp } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const SettingsQuery = graphql(`
  query ClientSettings {
    mySessions(first: 50) { nodes { id device ip createdAt lastSeenAt current } }
    myApiTokens(first: 50) { nodes { id name lastFour scopes expiresAt createdAt lastUsedAt revoked } }
  }
`);

const RevokeSessionMutation = graphql(`
  mutation ClientRevokeSession($id: ID!) { revokeSession(sessionId: $id) { ok errors { field message code } } }
`);

const CreateTokenMutation = graphql(`
  mutation ClientCreateApiToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) { token apiToken { id name lastFour } errors { field message code } }
  }
`);

const RevokeTokenMutation = graphql(`
  mutation ClientRevokeApiToken($id: ID!) { revokeApiToken(id: $id) { apiToken { id revoked } errors { field message code } } }
`);

export function Settings() {
  const { t, dateTime } = useI18n();
  const withStepUp = useStepUp();
  const [{ data }, refetch] = useQuery({ query: SettingsQuery });
  const [, revokeSession] = useMutation(RevokeSessionMutation);
  const [, createToken] = useMutation(CreateTokenMutation);
  const [, revokeToken] = useMutation(RevokeTokenMutation);
  const [name, setName] = useState("");
  const [days, setDays] = useState("90");
  const errors = useFormErrors(["name", "scopes", "expiresInDays"]);
  const [secret, setSecret] = useState<string | null>(null);
  const refresh = () => refetch({ requestPolicy: "network-only" });

  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    setSecret(null);
    const payload = await withStepUp(async () => {
      const res = await createToken({ input: { name, scopes: ["profile.read"], expiresInDays: Number(days) || 90 } });
      return res.data?.createApiToken ?? { token: null, apiToken: null, errors: errorsOf(null, res.error) };
    });
    errors.set(payload.errors);
    if (payload.token) {
      setSecret(payload.token);
      setName("");
      refresh();
    }
  };

  return (
    <>
      <PageTitle>{t("settings.title")}</PageTitle>
      <section className="card table-wrap" aria-labelledby="sessions-h">
        <h2 id="sessions-h">{t("settings.sessions")}</h2>
        <table>
          <thead><tr><th scope="col">{t("settings.device")}</th><th scope="col">IP</th><th scope="col">{t("settings.lastSeen")}</th><th scope="col"><span className="sr-only">{t("settings.actions")}</span></th></tr></thead>
          <tbody>
            {data?.mySessions.nodes.map((s) => (
              <tr key={s.id} data-session={s.id}>
                <th scope="row">{s.device || "—"}{s.current ? ` (${t("settings.thisDevice")})` : ""}</th><td>{s.ip ?? "—"}</td><td>{dateTime(s.lastSeenAt)}</td>
                <td>{s.current ? null : <button type="button" className="secondary" onClick={() => void revokeSession({ id: s.id }).then(refresh)}>{t("settings.signOutDevice")}</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="tokens-h">
        <h2 id="tokens-h">{t("settings.tokens")}</h2>
        <p className="hint">{t("settings.tokensHint")}</p>
        <form onSubmit={create} noValidate>
          <FormAlert errors={errors} />
          {secret ? <Notice tone="success"><p>{t("settings.tokenShownOnce")}</p><p><code className="secret" data-testid="api-token">{secret}</code></p></Notice> : null}
          <TextField label={t("settings.tokenName")} name="name" required value={name} onChange={(e) => setName(e.target.value)} errors={errors} />
          <TextField label={t("settings.expiresInDays")} name="expiresInDays" type="number" min={1} max={365} value={days} onChange={(e) => setDays(e.target.value)} errors={errors} />
          <button type="submit">{t("settings.createToken")}</button>
        </form>
        <div className="table-wrap">
          <table>
            <thead><tr><th scope="col">{t("settings.tokenName")}</th><th scope="col">{t("settings.scopes")}</th><th scope="col">{t("settings.expires")}</th><th scope="col"><span className="sr-only">{t("settings.actions")}</span></th></tr></thead>
            <tbody>
              {data?.myApiTokens.nodes.map((k) => (
                <tr key={k.id}>
                  <th scope="row">{k.name} <span className="muted">…{k.lastFour}</span></th><td>{k.scopes.join(", ")}</td><td>{dateTime(k.expiresAt)}</td>
                  <td>{k.revoked ? t("settings.revoked") : <button type="button" className="secondary" onClick={() => void revokeToken({ id: k.id }).then(refresh)}>{t("settings.revoke")}</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
