// A wallet's movements, filtered by kind and dates, paged, and exported as CSV (the amounts exactly as
// the API wrote them: decimal strings, never floats).
import { useState } from "react";
import { useClient, useQuery } from "urql";
import { ErrorMessage, Loading, Money, PageTitle, SelectField, TextField, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { ClientWalletTransactionsQuery } from "../gql/graphql";

const WalletsQuery = graphql(`
  query ClientHistoryWallets { myWallets { id currency } }
`);

const TransactionsQuery = graphql(`
  query ClientWalletTransactions($walletId: ID!, $filter: WalletTransactionFilter, $after: String) {
    walletTransactions(walletId: $walletId, filter: $filter, first: 50, after: $after) {
      nodes { id createdAt amount currency kind reference description }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const KINDS = ["deposit", "withdrawal", "withdrawal_return", "transfer", "exchange", "adjustment", "reversal", "ib_payout"];

/** A CSV cell; text a spreadsheet would run as a formula is quoted with a leading apostrophe, amounts stay numbers. */
function csvCell(value: string): string {
  const safe = /^[=+@\t\r]|^-(?!\d)/.test(value) ? `'${value}` : value;
  return /[",\n\r']/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function History() {
  const { t, dateTime } = useI18n();
  const client = useClient();
  const [{ data: wallets }] = useQuery({ query: WalletsQuery });
  const [walletId, setWalletId] = useState("");
  const [kind, setKind] = useState("");
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const chosen = walletId || wallets?.myWallets[0]?.id || "";
  const filter = {
    kinds: kind ? [kind] : null,
    since: since ? new Date(`${since}T00:00:00`).toISOString() : null,
    until: until ? new Date(`${until}T23:59:59.999`).toISOString() : null,
  };
  const [{ data, error, fetching }] = useQuery({ query: TransactionsQuery, variables: { walletId: chosen, filter }, pause: !chosen });

  const exportCsv = async () => {
    const rows = [["time", "kind", "amount", "currency", "reference", "description"]];
    let after: string | null = null;
    for (let page = 0; page < 200; page++) {
      const res: { data?: ClientWalletTransactionsQuery } = await client.query(TransactionsQuery, { walletId: chosen, filter, after }, { requestPolicy: "network-only" }).toPromise();
      const conn: ClientWalletTransactionsQuery["walletTransactions"] | undefined = res.data?.walletTransactions;
      if (!conn) break;
      for (const n of conn.nodes) rows.push([n.createdAt, n.kind, n.amount, n.currency, n.reference, n.description]);
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor ?? null;
    }
    const blob = new Blob([rows.map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n"], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `wallet-history-${new Date().toISOString().slice(0, 10)}.csv`;
    link.click();
    URL.revokeObjectURL(link.href);
  };

  return (
    <>
      <PageTitle>{t("history.title")}</PageTitle>
      <form className="card filters" onSubmit={(e) => e.preventDefault()} aria-label={t("history.filters")}>
        <SelectField label={t("funds.wallet")} name="walletId" value={chosen} onChange={(e) => setWalletId(e.target.value)}>
          {wallets?.myWallets.map((w) => <option key={w.id} value={w.id}>{w.currency}</option>)}
        </SelectField>
        <SelectField label={t("history.kind")} name="kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">{t("history.allKinds")}</option>
          {KINDS.map((k) => <option key={k} value={k}>{k}</option>)}
        </SelectField>
        <TextField label={t("history.since")} name="since" type="date" value={since} onChange={(e) => setSince(e.target.value)} />
        <TextField label={t("history.until")} name="until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
        <button type="button" className="secondary" onClick={() => void exportCsv()} disabled={!chosen}>{t("history.export")}</button>
      </form>
      <ErrorMessage error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        data.walletTransactions.nodes.length === 0 ? <p>{t("history.none")}</p> : (
          <div className="table-wrap card">
            <table>
              <caption className="sr-only">{t("history.title")}</caption>
              <thead><tr><th scope="col">{t("account.time")}</th><th scope="col">{t("history.kind")}</th><th scope="col" className="num">{t("funds.amount")}</th><th scope="col">{t("payments.reference")}</th><th scope="col">{t("history.description")}</th></tr></thead>
              <tbody>
                {data.walletTransactions.nodes.map((n) => (
                  <tr key={n.id}><td>{dateTime(n.createdAt)}</td><td>{n.kind}</td><td className="num"><Money amount={n.amount} currency={n.currency} /></td><td>{n.reference}</td><td>{n.description}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
    </>
  );
}
