import { Link } from "react-router-dom";
import { useQuery, useSubscription } from "urql";
import { ErrorMessage, Loading, Money, PageTitle, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { ClientDashboardQuery, ClientTradingAccountStateUpdatedSubscription, ClientWalletUpdatedSubscription } from "../gql/graphql";

const DashboardQuery = graphql(`
  query ClientDashboard {
    myWallets { id currency balance held available }
    myTradingAccounts(first: 50) {
      nodes {
        id login currency leverage accountType group
        state { balance equity marginFree floatingProfit asOf stale }
      }
    }
  }
`);

const WalletUpdated = graphql(`
  subscription ClientWalletUpdated {
    walletUpdated { id currency balance held available }
  }
`);

const AccountStateUpdated = graphql(`
  subscription ClientTradingAccountStateUpdated {
    tradingAccountStateUpdated {
      tradingAccountId login
      state { balance equity marginFree floatingProfit asOf stale }
    }
  }
`);

type WalletRow = ClientDashboardQuery["myWallets"][number];
type AccountState = NonNullable<ClientDashboardQuery["myTradingAccounts"]["nodes"][number]["state"]>;

/** The latest of each, by id, as the subscriptions deliver them. */
function latestWallets(prev: Record<string, WalletRow> | undefined, data: ClientWalletUpdatedSubscription): Record<string, WalletRow> {
  return { ...prev, [data.walletUpdated.id]: data.walletUpdated };
}

function latestStates(prev: Record<string, AccountState> | undefined, data: ClientTradingAccountStateUpdatedSubscription): Record<string, AccountState> {
  const u = data.tradingAccountStateUpdated;
  return { ...prev, [u.tradingAccountId]: u.state };
}

export function Dashboard() {
  const { t, dateTime } = useI18n();
  const [{ data, error, fetching }] = useQuery({ query: DashboardQuery });
  // Wallets and the trading accounts' balance and equity follow the API's subscriptions (graphql-ws):
  // each update replaces what the page read first, without polling or a reload.
  const [{ data: wallets }] = useSubscription({ query: WalletUpdated }, latestWallets);
  const [{ data: states }] = useSubscription({ query: AccountStateUpdated }, latestStates);
  const walletOf = (w: WalletRow) => wallets?.[w.id] ?? w;
  const stateOf = (id: string, read: AccountState | null | undefined) => {
    const heard = states?.[id];
    if (!heard) return read ?? null;
    return read && Date.parse(read.asOf) > Date.parse(heard.asOf) ? read : heard;
  };

  return (
    <>
      <PageTitle>{t("dashboard.title")}</PageTitle>
      <ErrorMessage error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <>
          <section className="card" aria-labelledby="wallets-h">
            <h2 id="wallets-h">{t("dashboard.wallets")}</h2>
            {data.myWallets.length === 0 ? <p>{t("dashboard.noWallets")}</p> : (
              <div className="grid">
                {data.myWallets.map(walletOf).map((w) => (
                  <div key={w.id} className="card" data-testid={`wallet-${w.currency}`}>
                    <h3>{w.currency}</h3>
                    <p className="stat"><Money amount={w.balance} currency={w.currency} /></p>
                    <p className="muted">{t("wallet.available")}: <Money amount={w.available} currency={w.currency} /> · {t("wallet.held")}: <Money amount={w.held} currency={w.currency} /></p>
                  </div>
                ))}
              </div>
            )}
          </section>
          <section className="card" aria-labelledby="accounts-h">
            <h2 id="accounts-h">{t("dashboard.accounts")}</h2>
            {data.myTradingAccounts.nodes.length === 0 ? <p>{t("dashboard.noAccounts")}</p> : (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t("account.login")}</th>
                      <th scope="col">{t("account.type")}</th>
                      <th scope="col" className="num">{t("account.leverage")}</th>
                      <th scope="col" className="num">{t("account.balance")}</th>
                      <th scope="col" className="num">{t("account.equity")}</th>
                      <th scope="col" className="num">{t("account.marginFree")}</th>
                      <th scope="col">{t("account.asOf")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.myTradingAccounts.nodes.map((row) => ({ ...row, state: stateOf(row.id, row.state) })).map((a) => (
                      <tr key={a.id} data-testid={`account-${a.login}`}>
                        <th scope="row"><Link to={`/accounts/${encodeURIComponent(a.id)}`} aria-label={`${t("account.open")} ${a.login}`}>{a.login}</Link></th>
                        <td>{a.accountType} <span className="muted">{a.currency}</span></td>
                        <td className="num">1:{a.leverage}</td>
                        <td className="num">{a.state ? <Money amount={a.state.balance} currency={a.currency} /> : "—"}</td>
                        <td className="num" data-testid="equity">{a.state ? <Money amount={a.state.equity} currency={a.currency} /> : "—"}</td>
                        <td className="num">{a.state ? <Money amount={a.state.marginFree} currency={a.currency} /> : "—"}</td>
                        <td>{a.state ? <>{dateTime(a.state.asOf)} {a.state.stale ? <span className="muted">{t("account.stale")}</span> : null}</> : "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      ) : null}
    </>
  );
}
