// The downline: sub-IBs level by level (indented by depth, never beyond the visible depth) and the
// clients, contact data as the API masks it. A client page answers only for a client of the tree.
import { Fragment } from "react";
import { Link, useParams } from "react-router-dom";
import { useQuery } from "urql";
import { ErrorMessage, Loading, Money, PageTitle, useI18n } from "@forexcrm/portal-shared";
import { ClientQuery, TreeQuery } from "../operations";

export function TreePage() {
  const { t, dateTime, number } = useI18n();
  const [{ data, fetching, error }] = useQuery({ query: TreeQuery });
  return (
    <>
      <PageTitle>{t("tree.title")}</PageTitle>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      {data ? (
        <>
          <p data-testid="visible-depth">{t("tree.depth", { depth: data.myIbTree.visibleDepth })}</p>
          <h2>{t("tree.subIbs")}</h2>
          {data.myIbTree.members.nodes.length === 0 ? <p>{t("tree.noSubIbs")}</p> : (
            <ul className="tree" aria-label={t("tree.subIbs")}>
              {data.myIbTree.members.nodes.map((m) => (
                <li key={m.id} style={{ marginInlineStart: `${(m.depth - 1) * 1.5}rem` }}>
                  <span className="pill">{t("tree.level", { depth: m.depth })}</span>
                  <strong>{m.contact.name}</strong> <span className="muted">{m.contact.email}</span>{m.contact.masked ? <> <span className="muted">({t("contact.masked")})</span></> : null}{" "}
                  {t("tree.clients", { count: m.clients })}
                </li>
              ))}
            </ul>
          )}
          <h2>{t("tree.clientsTitle")}</h2>
          <div className="table-wrap">
            <table>
              <thead><tr>
                <th scope="col">{t("client.name")}</th><th scope="col">{t("client.email")}</th>
                <th scope="col">{t("client.depth")}</th><th scope="col">{t("client.status")}</th>
                <th scope="col">{t("client.lots")}</th><th scope="col">{t("client.registered")}</th>
              </tr></thead>
              <tbody>
                {data.myIbClients.nodes.map((c) => (
                  <tr key={c.clientId}>
                    <th scope="row"><Link to={`/clients/${encodeURIComponent(c.clientId)}`}>{c.contact.name}</Link></th>
                    <td>{c.contact.email}{c.contact.masked ? <> <span className="muted">({t("contact.masked")})</span></> : null}</td><td>{c.depth}</td><td>{c.status}</td>
                    <td>{number(c.lots)}</td><td>{dateTime(c.registeredAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </>
  );
}

export function ClientPage() {
  const { id = "" } = useParams();
  const { t, dateTime, number } = useI18n();
  const [{ data, fetching, error }] = useQuery({ query: ClientQuery, variables: { clientId: id } });
  if (fetching && !data) return <Loading />;
  const client = data?.myIbClient;
  if (!client) {
    return (
      <>
        <PageTitle>{t("client.notFound")}</PageTitle>
        <p><Link to="/">{t("nav.tree")}</Link></p>
        {error && !/not found|NOT_FOUND/i.test(error.message) ? <ErrorMessage error={error} /> : null}
      </>
    );
  }
  return (
    <>
      <PageTitle>{client.contact.name}</PageTitle>
      <dl className="facts" data-testid="client-facts">
        <dt>{t("client.email")}</dt><dd>{client.contact.email}</dd>
        <dt>{t("client.phone")}</dt><dd>{client.contact.phone}</dd>
        {client.contact.masked ? <><dt>{t("contact.privacy")}</dt><dd data-testid="contact-masked">{t("contact.maskedExplain")}</dd></> : null}
        <dt>{t("client.depth")}</dt><dd>{client.depth}</dd>
        <dt>{t("client.status")}</dt><dd>{client.status}</dd>
        <dt>{t("client.lots")}</dt><dd>{number(client.lots)}</dd>
        <dt>{t("client.registered")}</dt><dd>{dateTime(client.registeredAt)}</dd>
        {client.deposits.map((d) => (
          <Fragment key={d.currency}><dt>{t("client.deposits", { currency: d.currency })}</dt><dd><Money amount={d.amount} currency={d.currency} /></dd></Fragment>
        ))}
      </dl>
    </>
  );
}
