// Statements (CSV and PDF of a period, as the API offers them) and payouts with their status.
import { useState } from "react";
import { useClient, useQuery } from "urql";
import { ErrorMessage, Loading, Money, PageTitle, TextField, useI18n } from "@forexcrm/portal-shared";
import { PayoutsQuery, StatementCsvQuery, StatementPdfQuery } from "../operations";
import { download, lastDays, statusLabel } from "../period";

export function MoneyPage() {
  const { t, dateTime } = useI18n();
  const client = useClient();
  const initial = lastDays(30);
  const [since, setSince] = useState(initial.since.slice(0, 10));
  const [until, setUntil] = useState(initial.until.slice(0, 10));
  const [failure, setFailure] = useState<{ message: string } | null>(null);
  const [{ data, fetching, error }] = useQuery({ query: PayoutsQuery });
  const period = { since: `${since}T00:00:00Z`, until: `${until}T00:00:00Z` };

  const csv = async () => {
    const res = await client.query(StatementCsvQuery, period, { requestPolicy: "network-only" }).toPromise();
    setFailure(res.error ?? null);
    if (res.data) download(`statement-${since}-${until}.csv`, new Blob([res.data.myIbStatementCsv], { type: "text/csv" }));
  };
  const pdf = async () => {
    const res = await client.query(StatementPdfQuery, period, { requestPolicy: "network-only" }).toPromise();
    setFailure(res.error ?? null);
    if (res.data) {
      const bytes = Uint8Array.from(atob(res.data.myIbStatementPdf), (c) => c.charCodeAt(0));
      download(`statement-${since}-${until}.pdf`, new Blob([bytes], { type: "application/pdf" }));
    }
  };
  return (
    <>
      <PageTitle>{t("money.title")}</PageTitle>
      <h2>{t("money.statements")}</h2>
      <div className="filters">
        <TextField label={t("money.since")} name="since" type="date" value={since} onChange={(e) => setSince(e.target.value)} />
        <TextField label={t("money.until")} name="until" type="date" value={until} onChange={(e) => setUntil(e.target.value)} />
        <button type="button" onClick={() => void csv()}>{t("money.csv")}</button>
        <button type="button" onClick={() => void pdf()}>{t("money.pdf")}</button>
      </div>
      <ErrorMessage error={failure} />
      <h2>{t("money.payouts")}</h2>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      {data && data.myIbPayouts.nodes.length === 0 ? <p>{t("money.noPayouts")}</p> : null}
      {data && data.myIbPayouts.nodes.length > 0 ? (
        <div className="table-wrap"><table>
          <thead><tr><th scope="col">{t("money.period")}</th><th scope="col">{t("commissions.amount")}</th><th scope="col">{t("money.status")}</th><th scope="col">{t("money.paidAt")}</th></tr></thead>
          <tbody>{data.myIbPayouts.nodes.map((p) => (
            <tr key={p.id} data-testid="payout"><th scope="row">{p.periodKey}</th><td><Money amount={p.amount} currency={p.currency} /></td><td><span className="status">{statusLabel(t, p.status)}</span></td><td>{p.paidAt ? dateTime(p.paidAt) : "—"}</td></tr>
          ))}</tbody>
        </table></div>
      ) : null}
    </>
  );
}
