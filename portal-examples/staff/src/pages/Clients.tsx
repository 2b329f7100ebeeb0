// Client search (by id, trading login, e-mail, name or phone: `searchClients`) and the list of clients
// by status (`clients`), both paged over their cursor connections (needs clients.read).
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useQuery } from "urql";
import { Loading, PageTitle, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { ClientStatus } from "../gql/graphql";
import { Pager, QueryError, Status, type Cursor } from "./common";

const PAGE = 25;
const STATUSES: ClientStatus[] = ["REGISTERED", "EMAIL_VERIFIED", "PROFILE_COMPLETE", "DOCUMENTS_SUBMITTED", "UNDER_REVIEW",
  "APPROVED", "REJECTED", "MORE_INFO_REQUIRED", "ACTIVE", "DORMANT", "CLOSED", "BLOCKED", "LEAD"];

const ClientsQuery = graphql(`
  query StaffClients($status: ClientStatus, $first: Int, $after: String, $last: Int, $before: String) {
    clients(status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id name status country riskLevel createdAt }
    }
  }
`);

const SearchQuery = graphql(`
  query StaffSearchClients($query: String!, $first: Int, $after: String, $last: Int, $before: String) {
    searchClients(query: $query, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { email matchedOn client { id name status country riskLevel createdAt } }
    }
  }
`);

interface Row { id: string; name: string; status: string; country?: string | null; createdAt: string; email?: string; matchedOn?: string }

export function Clients() {
  const { t, dateTime } = useI18n();
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const status = (params.get("status") ?? "") as ClientStatus | "";
  const [text, setText] = useState(q);
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const searching = q.trim().length > 0;
  const [list] = useQuery({ query: ClientsQuery, variables: { status: status || null, ...cursor }, pause: searching });
  const [found] = useQuery({ query: SearchQuery, variables: { query: q, ...cursor }, pause: !searching });
  const result = searching ? found : list;
  const rows: Row[] | undefined = searching
    ? found.data?.searchClients.nodes.map((h) => ({ ...h.client, email: h.email, matchedOn: h.matchedOn }))
    : list.data?.clients.nodes;
  const info = searching ? found.data?.searchClients.pageInfo : list.data?.clients.pageInfo;

  if (result.error && !result.data) return <QueryError error={result.error} title={t("clients.title")} />;
  return (
    <>
      <PageTitle>{t("clients.title")}</PageTitle>
      <form className="filters card" role="search" onSubmit={(e) => {
        e.preventDefault();
        setCursor({ first: PAGE });
        setParams((p) => { const n = new URLSearchParams(p); if (text.trim()) n.set("q", text.trim()); else n.delete("q"); return n; });
      }}>
        <div className="field">
          <label htmlFor="client-search">{t("clients.search")}</label>
          <input id="client-search" type="search" value={text} onChange={(e) => setText(e.target.value)} aria-describedby="client-search-hint" />
          <p id="client-search-hint" className="hint">{t("clients.searchHint")}</p>
        </div>
        <button type="submit">{t("clients.find")}</button>
        <div className="field">
          <label htmlFor="client-status">{t("client.status")}</label>
          <select id="client-status" value={status} disabled={searching} onChange={(e) => {
            setCursor({ first: PAGE });
            setParams((p) => { const n = new URLSearchParams(p); if (e.target.value) n.set("status", e.target.value); else n.delete("status"); return n; });
          }}>
            <option value="">{t("clients.any")}</option>
            {STATUSES.map((s) => <option key={s} value={s}>{t(`clientStatus.${s}`)}</option>)}
          </select>
        </div>
      </form>
      {result.fetching && !rows ? <Loading /> : null}
      {rows ? (rows.length === 0 ? <p>{t("clients.none")}</p> : (
        <>
          <div className="table-wrap card" tabIndex={0} role="region" aria-label={t("clients.title")}>
            <table>
              <caption className="sr-only">{t("clients.title")}</caption>
              <thead><tr>
                <th scope="col">{t("client.name")}</th>{searching ? <th scope="col">{t("client.email")}</th> : null}
                <th scope="col">{t("client.country")}</th><th scope="col">{t("client.status")}</th><th scope="col">{t("client.since")}</th>
              </tr></thead>
              <tbody>
                {rows.map((c) => (
                  <tr key={c.id}>
                    <th scope="row"><Link to={`/clients/${encodeURIComponent(c.id)}`}>{c.name || "—"}</Link></th>
                    {searching ? <td>{c.email} <span className="muted">({c.matchedOn})</span></td> : null}
                    <td>{c.country ?? "—"}</td><td><Status status={c.status} /></td><td>{dateTime(c.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {info ? <Pager info={info} size={PAGE} onPage={setCursor} label={t("clients.title")} /> : null}
        </>
      )) : null}
    </>
  );
}
