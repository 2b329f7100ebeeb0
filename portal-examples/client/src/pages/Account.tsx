// One trading account: its state, open positions and latest deals. The id in the URL is the account's
// global id; the API answers "not found" for an account that is not the caller's.
import { useParams } from "react-router-dom";
import { useQuery } from "urql";
import { ErrorMessage, Loading, Money, Notice, PageTitle, isNotFound, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const AccountQuery = graphql(`
  query ClientTradingAccount($id: ID!) {
    tradingAccount(id: $id) {
      id login currency leverage accountType group createdAt
      state { balance credit equity margin marginFree marginLevel floatingProfit asOf stale }
    }
    positions(accountId: $id, first: 50) { nodes { positionId symbol side volume priceOpen openedAt } }
    deals(accountId: $id, first: 20) { nodes { dealId time symbol volume price profit } }
  }
`);

export function AccountPage() {
  const { id = "" } = useParams();
  const { t, dateTime, number } = useI18n();
  const [{ data, error, fetching }] = useQuery({ query: AccountQuery, variables: { id } });
  if (fetching && !data) return <Loading />;
  if (isNotFound(error) || (!data?.tradingAccount && !error)) {
    return (
      <>
        <PageTitle>{t("account.notFound")}</PageTitle>
        <Notice tone="error">{t("account.notFound")}</Notice>
      </>
    );
  }
  if (!data?.tradingAccount) return <ErrorMessage error={error} />;
  const a = data.tradingAccount;
  const s = a.state;
  return (
    <>
      <PageTitle>{t("account.title", { login: a.login })}</PageTitle>
      <section className="card" aria-label={t("account.title", { login: a.login })}>
        <dl className="facts">
          <div><dt>{t("account.type")}</dt><dd>{a.accountType} ({a.currency})</dd></div>
          <div><dt>{t("account.leverage")}</dt><dd>1:{a.leverage}</dd></div>
          {s ? (
            <>
              <div><dt>{t("account.balance")}</dt><dd><Money amount={s.balance} currency={a.currency} /></dd></div>
              <div><dt>{t("account.equity")}</dt><dd data-testid="equity"><Money amount={s.equity} currency={a.currency} /></dd></div>
              <div><dt>{t("account.marginFree")}</dt><dd><Money amount={s.marginFree} currency={a.currency} /></dd></div>
              <div><dt>{t("account.asOf")}</dt><dd>{dateTime(s.asOf)}</dd></div>
            </>
          ) : null}
        </dl>
      </section>
      <section className="card" aria-labelledby="pos-h">
        <h2 id="pos-h">{t("account.positions")}</h2>
        <div className="table-wrap">
          <table>
            <thead><tr><th scope="col">{t("account.symbol")}</th><th scope="col">{t("account.side")}</th><th scope="col" className="num">{t("account.volume")}</th><th scope="col" className="num">{t("account.price")}</th></tr></thead>
            <tbody>
              {data.positions.nodes.map((p) => (
                <tr key={p.positionId}><th scope="row">{p.symbol}</th><td>{p.side}</td><td className="num">{number(p.volume)}</td><td className="num">{p.priceOpen ? number(p.priceOpen) : "—"}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section className="card" aria-labelledby="deals-h">
        <h2 id="deals-h">{t("account.deals")}</h2>
        <div className="table-wrap">
          <table>
            <thead><tr><th scope="col">{t("account.time")}</th><th scope="col">{t("account.symbol")}</th><th scope="col" className="num">{t("account.volume")}</th><th scope="col" className="num">{t("account.price")}</th><th scope="col" className="num">{t("account.profit")}</th></tr></thead>
            <tbody>
              {data.deals.nodes.map((d) => (
                <tr key={d.dealId}><td>{dateTime(d.time)}</td><th scope="row">{d.symbol}</th><td className="num">{number(d.volume)}</td><td className="num">{number(d.price)}</td><td className="num"><Money amount={d.profit} currency={a.currency} /></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
