// Outbound webhooks (webhooks.manage; loaded on first use): endpoints registered with the event types they
// want (a refused URL or no event type shown beside its field), the signing secret shown once on
// registration and on rotation (the previous secret keeps signing for 24 h), endpoints enabled or disabled
// (the API disables one that keeps failing, with its reason), and an endpoint's delivery log newest first
// with each attempt's response code, any message replayed.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 10;

const EndpointsQuery = graphql(`
  query StaffWebhookEndpoints($first: Int, $after: String, $last: Int, $before: String) {
    webhookEventTypes { name description }
    webhookEndpoints(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId url description eventTypes enabled disabledReason previousSecretValidUntil createdAt }
    }
  }
`);

const RegisterMutation = graphql(`
  mutation StaffRegisterWebhookEndpoint($input: RegisterWebhookEndpointInput!) {
    registerWebhookEndpoint(input: $input) { endpoint { id databaseId url } secret errors { field message code } }
  }
`);

const RotateMutation = graphql(`
  mutation StaffRotateWebhookSecret($endpointId: ID!) {
    rotateWebhookSecret(endpointId: $endpointId) { endpoint { id previousSecretValidUntil } secret errors { field message code } }
  }
`);

const EnableMutation = graphql(`
  mutation StaffSetWebhookEndpointEnabled($endpointId: ID!, $enabled: Boolean!) {
    setWebhookEndpointEnabled(endpointId: $endpointId, enabled: $enabled) { endpoint { id enabled disabledReason } errors { field message code } }
  }
`);

const AttemptsQuery = graphql(`
  query StaffWebhookDeliveries($endpointId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    webhookDeliveryAttempts(endpointId: $endpointId, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { databaseId messageId eventType attemptedAt statusCode durationMs responseExcerpt error }
    }
  }
`);

const ReplayMutation = graphql(`
  mutation StaffReplayWebhookMessage($endpointId: ID!, $messageId: String!) {
    replayWebhookMessage(endpointId: $endpointId, messageId: $messageId) { queued errors { field message code } }
  }
`);

/** A secret shown this once. */
function Secret({ secret, testId }: { secret: string; testId: string }) {
  const { t } = useI18n();
  return (
    <div className="alert alert-success" role="status">
      <p>{t("wh.secretOnce")}</p>
      <p><code data-testid={testId}>{secret}</code></p>
    </div>
  );
}

function Register({ types, onRegistered }: { types: ReadonlyArray<{ name: string; description: string }>; onRegistered: () => void }) {
  const { t } = useI18n();
  const [, register] = useMutation(RegisterMutation);
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [secret, setSecret] = useState<string | null>(null);
  const errors = useFormErrors(["url", "eventTypes", "description"]);
  const typesError = errors.of("eventTypes");
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSecret(null);
    const r = await register({ input: { url: url.trim(), eventTypes: chosen, description: description.trim() } });
    const payload = r.data?.registerWebhookEndpoint;
    if (!payload?.endpoint || !payload.secret) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setSecret(payload.secret);
    onRegistered();
  };
  return (
    <form className="card" noValidate onSubmit={submit} aria-labelledby="wh-new-h">
      <h2 id="wh-new-h">{t("wh.register")}</h2>
      <FormAlert errors={errors} />
      {secret ? <Secret secret={secret} testId="webhook-secret" /> : null}
      <TextField label={t("wh.url")} name="url" type="url" hint={t("wh.urlHint")} errors={errors} value={url} onChange={(e) => setUrl(e.target.value)} />
      <TextField label={t("wh.description")} name="description" errors={errors} value={description} onChange={(e) => setDescription(e.target.value)} />
      <fieldset className={typesError ? "field-invalid" : undefined} aria-describedby={typesError ? "wh-types-error" : undefined}>
        <legend>{t("wh.eventTypes")}</legend>
        {types.map((type) => (
          <label key={type.name} className="choice">
            <input type="checkbox" name="eventTypes" value={type.name} checked={chosen.includes(type.name)}
              onChange={(e) => setChosen(e.target.checked ? [...chosen, type.name] : chosen.filter((c) => c !== type.name))} />
            {" "}<code>{type.name}</code>: {type.description}
          </label>
        ))}
        {typesError ? <p id="wh-types-error" className="field-error" data-code={typesError.code}>{typesError.message}</p> : null}
      </fieldset>
      <div className="actions"><button type="submit">{t("wh.registerButton")}</button></div>
    </form>
  );
}

export function Webhooks() {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: EndpointsQuery, variables: cursor });
  const [, rotate] = useMutation(RotateMutation);
  const [, enable] = useMutation(EnableMutation);
  const [selected, setSelected] = useState<{ id: string; label: string } | null>(null);
  const [rotated, setRotated] = useState<{ id: string; secret: string } | null>(null);
  const errors = useFormErrors([]);
  if (error && !data) return <QueryError error={error} title={t("wh.title")} />;
  const reload = () => refetch({ requestPolicy: "network-only" });
  return (
    <>
      <PageTitle>{t("wh.title")}</PageTitle>
      {data ? <Register types={data.webhookEventTypes} onRegistered={() => { setCursor({ first: PAGE }); reload(); }} /> : null}
      <section className="card" aria-labelledby="wh-list-h">
        <h2 id="wh-list-h">{t("wh.endpoints")}</h2>
        <FormAlert errors={errors} />
        {rotated ? <Secret secret={rotated.secret} testId="webhook-rotated-secret" /> : null}
        {fetching && !data ? <Loading /> : null}
        {data ? (data.webhookEndpoints.nodes.length === 0 ? <p>{t("wh.none")}</p> : (
          <>
            <div className="table-wrap" tabIndex={0} role="region" aria-label={t("wh.endpoints")}>
              <table data-testid="webhook-endpoints">
                <thead><tr>
                  <th scope="col">{t("wh.url")}</th><th scope="col">{t("wh.eventTypes")}</th><th scope="col">{t("wh.state")}</th>
                  <th scope="col">{t("wh.created")}</th><th scope="col"><span className="sr-only">{t("recon.actions")}</span></th>
                </tr></thead>
                <tbody>
                  {data.webhookEndpoints.nodes.map((e) => (
                    <tr key={e.id} data-testid={`webhook-${e.databaseId}`}>
                      <th scope="row"><code>{e.url}</code>{e.description ? <><br />{e.description}</> : null}</th>
                      <td>{e.eventTypes.join(", ")}</td>
                      <td>{e.enabled ? t("wh.enabled") : t("wh.disabled")}{e.disabledReason ? `: ${e.disabledReason}` : ""}
                        {e.previousSecretValidUntil ? <><br />{t("wh.previousUntil", { at: dateTime(e.previousSecretValidUntil) })}</> : null}</td>
                      <td>{dateTime(e.createdAt)}</td>
                      <td className="actions">
                        <button type="button" className="secondary" aria-label={t("wh.logOf", { url: e.url })} aria-pressed={selected?.id === e.id}
                          onClick={() => setSelected({ id: e.id, label: e.url })}>{t("wh.log")}</button>
                        <button type="button" className="secondary" aria-label={t("wh.rotateOf", { url: e.url })} onClick={async () => {
                          const r = await rotate({ endpointId: e.id });
                          const payload = r.data?.rotateWebhookSecret;
                          if (!payload?.secret) { errors.set(errorsOf(payload, r.error)); return; }
                          errors.clear();
                          setRotated({ id: e.id, secret: payload.secret });
                          reload();
                        }}>{t("wh.rotate")}</button>
                        <button type="button" className="secondary" aria-label={t(e.enabled ? "wh.disableOf" : "wh.enableOf", { url: e.url })} onClick={async () => {
                          const r = await enable({ endpointId: e.id, enabled: !e.enabled });
                          const payload = r.data?.setWebhookEndpointEnabled;
                          if (!payload?.endpoint) { errors.set(errorsOf(payload, r.error)); return; }
                          errors.clear();
                          reload();
                        }}>{e.enabled ? t("wh.disable") : t("wh.enable")}</button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager info={data.webhookEndpoints.pageInfo} size={PAGE} onPage={setCursor} label={t("wh.endpoints")} />
          </>
        )) : null}
      </section>
      {selected ? <Deliveries key={selected.id} endpointId={selected.id} label={selected.label} /> : null}
    </>
  );
}

function Deliveries({ endpointId, label }: { endpointId: string; label: string }) {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: AttemptsQuery, variables: { endpointId, ...cursor } });
  const [, replay] = useMutation(ReplayMutation);
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors([]);
  const title = t("wh.logOf", { url: label });
  return (
    <section className="card" aria-labelledby="wh-log-h" data-testid="webhook-deliveries">
      <h2 id="wh-log-h">{title}</h2>
      <div className="actions">
        <button type="button" className="secondary" disabled={fetching} onClick={() => refetch({ requestPolicy: "network-only" })}>{t("wh.refresh")}</button>
      </div>
      <QueryError error={error} />
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {!data ? <Loading /> : data.webhookDeliveryAttempts.nodes.length === 0 ? <p>{t("wh.noAttempts")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <thead><tr>
                <th scope="col">{t("wh.attempted")}</th><th scope="col">{t("wh.event")}</th><th scope="col">{t("wh.message")}</th>
                <th scope="col" className="num">{t("wh.response")}</th><th scope="col" className="num">{t("wh.ms")}</th>
                <th scope="col">{t("wh.answer")}</th><th scope="col"><span className="sr-only">{t("wh.replay")}</span></th>
              </tr></thead>
              <tbody>
                {data.webhookDeliveryAttempts.nodes.map((a) => (
                  <tr key={a.databaseId}>
                    <th scope="row">{dateTime(a.attemptedAt)}</th><td>{a.eventType}</td><td><code>{a.messageId}</code></td>
                    <td className="num" data-testid="webhook-status">{a.statusCode ?? "—"}</td><td className="num">{a.durationMs}</td>
                    <td>{a.error ?? a.responseExcerpt ?? ""}</td>
                    <td><button type="button" className="secondary" aria-label={t("wh.replayOf", { id: a.messageId })} onClick={async () => {
                      const r = await replay({ endpointId, messageId: a.messageId });
                      const payload = r.data?.replayWebhookMessage;
                      if (!payload?.queued) { errors.set(errorsOf(payload, r.error)); setNotice(null); return; }
                      errors.clear();
                      setNotice(t("wh.replayed", { id: a.messageId }));
                    }}>{t("wh.replay")}</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.webhookDeliveryAttempts.pageInfo} size={PAGE} onPage={setCursor} label={title} />
        </>
      )}
    </section>
  );
}
