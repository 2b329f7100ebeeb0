// Trading servers (needs trading.read): each server's platform, feed health (last success, lag, the last
// error and consecutive failures, the next attempt) and, with trading.manage, enable/disable; the open
// ingestion errors (deals the feed could not take) resolved with a note kept in the audit trail.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, type Cursor } from "./common";

const ServersQuery = graphql(`
  query StaffTradingServers {
    tradingServers { id databaseId name platform enabled lastSuccessAt lastError consecutiveFailures nextAttemptAt cursorTime lagSeconds }
  }
`);

const IngestionErrorsQuery = graphql(`
  query StaffIngestionErrors($first: Int, $after: String, $last: Int, $before: String) {
    ingestionErrors(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId tradingServerId dealId kind detail createdAt resolvedAt }
    }
  }
`);

const SetEnabledMutation = graphql(`
  mutation StaffSetTradingServerEnabled($id: ID!, $enabled: Boolean!) {
    setTradingServerEnabled(id: $id, enabled: $enabled) { tradingServer { id enabled } errors { field message code } }
  }
`);

const ResolveIngestionMutation = graphql(`
  mutation StaffResolveIngestionError($id: ID!, $note: String!) {
    resolveIngestionError(id: $id, note: $note) { ingestionError { id resolvedAt } errors { field message code } }
  }
`);

export function TradingServers() {
  const { t, dateTime, number } = useI18n();
  const { viewer } = useSession();
  const canManage = (viewer?.permissions ?? []).includes("trading.manage");
  const [{ data, error, fetching }, refetch] = useQuery({ query: ServersQuery });
  const [, setEnabled] = useMutation(SetEnabledMutation);
  const errors = useFormErrors([]);
  const [notice, setNotice] = useState<string | null>(null);
  if (error && !data) return <QueryError error={error} title={t("ts.title")} />;
  const toggle = async (id: string, name: string, enabled: boolean) => {
    const r = await setEnabled({ id, enabled });
    const payload = r.data?.setTradingServerEnabled;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t(enabled ? "ts.enabledNow" : "ts.disabledNow", { name }));
    refetch({ requestPolicy: "network-only" });
  };
  const servers = data?.tradingServers ?? [];
  return (
    <>
      <PageTitle>{t("ts.title")}</PageTitle>
      <section className="card" aria-labelledby="servers-h">
        <h2 id="servers-h">{t("ts.servers")}</h2>
        <FormAlert errors={errors} />
        {notice ? <Notice tone="success">{notice}</Notice> : null}
        {fetching && !data ? <Loading /> : null}
        {data && servers.length === 0 ? <p>{t("ts.none")}</p> : null}
        {servers.length > 0 ? (
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ts.servers")}><table data-testid="trading-servers">
            <caption className="sr-only">{t("ts.servers")}</caption>
            <thead><tr><th scope="col">{t("ts.name")}</th><th scope="col">{t("ts.platform")}</th><th scope="col">{t("ts.state")}</th>
              <th scope="col">{t("ts.lastSuccess")}</th><th scope="col" className="num">{t("ts.lag")}</th><th scope="col">{t("ts.lastError")}</th>
              <th scope="col"><span className="sr-only">{t("wd.actions")}</span></th></tr></thead>
            <tbody>{servers.map((s) => (
              <tr key={s.id}><th scope="row">{s.name}</th><td>{s.platform}</td>
                <td><span className={`status${s.enabled ? "" : " risk-high"}`}>{t(s.enabled ? "ts.enabled" : "ts.disabled")}</span></td>
                <td>{s.lastSuccessAt ? dateTime(s.lastSuccessAt) : "—"}</td>
                <td className="num">{s.lagSeconds === null || s.lagSeconds === undefined ? "—" : t("ts.seconds", { n: number(s.lagSeconds.toFixed(1)) })}</td>
                <td>{s.lastError ? `${s.lastError} (${t("ts.failures", { n: s.consecutiveFailures })})` : "—"}</td>
                <td>{canManage ? (
                  <button type="button" className="secondary" onClick={() => void toggle(s.id, s.name, !s.enabled)}
                    aria-label={t(s.enabled ? "ts.disableOne" : "ts.enableOne", { name: s.name })}>{t(s.enabled ? "ts.disable" : "ts.enable")}</button>
                ) : null}</td></tr>
            ))}</tbody>
          </table></div>
        ) : null}
      </section>
      <IngestionErrors canManage={canManage} servers={Object.fromEntries(servers.map((s) => [s.id, s.name]))} />
    </>
  );
}

function IngestionErrors({ canManage, servers }: { canManage: boolean; servers: Record<string, string> }) {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: 20 });
  const [{ data, error }, refetch] = useQuery({ query: IngestionErrorsQuery, variables: cursor });
  const [, resolve] = useMutation(ResolveIngestionMutation);
  const [note, setNote] = useState("");
  const errors = useFormErrors(["note"]);
  const [notice, setNotice] = useState<string | null>(null);
  const act = async (id: string) => {
    const r = await resolve({ id, note: note.trim() });
    const payload = r.data?.resolveIngestionError;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("ts.resolved"));
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <section className="card" aria-labelledby="ingestion-h">
      <h2 id="ingestion-h">{t("ts.ingestion")}</h2>
      {canManage ? (
        <form noValidate onSubmit={(e) => e.preventDefault()}>
          <TextField label={t("ts.note")} name="note" errors={errors} value={note} onChange={(e) => setNote(e.target.value)} />
        </form>
      ) : null}
      <FormAlert errors={errors} />
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.ingestionErrors.nodes.length === 0 ? <p data-testid="no-ingestion-errors">{t("ts.noErrors")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ts.ingestion")}><table>
            <caption className="sr-only">{t("ts.ingestion")}</caption>
            <thead><tr><th scope="col">{t("ts.when")}</th><th scope="col">{t("ts.server")}</th><th scope="col">{t("ts.kind")}</th>
              <th scope="col">{t("ts.deal")}</th><th scope="col">{t("ts.detail")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th></tr></thead>
            <tbody>{data.ingestionErrors.nodes.map((e) => (
              <tr key={e.id}><th scope="row">{dateTime(e.createdAt)}</th><td>{servers[e.tradingServerId] ?? e.tradingServerId}</td><td>{e.kind}</td>
                <td>{e.dealId ?? "—"}</td><td>{e.detail}</td>
                <td>{canManage && !e.resolvedAt ? <button type="button" className="secondary" aria-label={t("ts.resolveOne", { id: e.databaseId })} onClick={() => void act(e.id)}>{t("ts.resolve")}</button> : null}</td></tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.ingestionErrors.pageInfo} size={20} onPage={setCursor} label={t("ts.ingestion")} />
        </>
      )) : null}
    </section>
  );
}
