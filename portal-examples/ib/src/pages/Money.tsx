// Statements (CSV and PDF of a period, as the API offers them), payouts with their status, and a request for
// the payout of the last closed cycle period (requestMyIbPayout: paid or held as the nightly run would).
import { useState } from "react";
import { useClient, useMutation, useQuery } from "urql";
import { ErrorMessage, FormAlert, Loading, Money, Notice, PageTitle, TextField, errorsOf, newIdempotencyKey, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { PayoutsQuery, RequestPayoutMutation, StatementCsvQuery, StatementPdfQuery } from "../operations";
import { download, lastDays, statusLabel } from "../period";

export function MoneyPage() {
  const { t, dateTime, money } = useI18n();
  const client = useClient();
  const initial = lastDays(30);
  const [since, setSince] = useState(initial.since.slice(0, 10));
  const [until, setUntil] = useState(initial.until.slice(0, 10));
  const [failure, setFailure] = useState<{ message: string } | null>(null);
  const [{ data, fetching, error }, refetch] = useQuery({ query: PayoutsQuery });
  const [, requestPayout] = useMutation(RequestPayoutMutation);
  const requestErrors = useFormErrors([]);
  const [requested, setRequested] = useState<string | null>(null);
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
  const request = async () => {
    setRequested(null);
    const res = await requestPayout({ input: { idempotencyKey: newIdempotencyKey() } });
    const found = errorsOf(res.data?.requestMyIbPayout, res.error);
    requestErrors.set(found);
    const run = res.data?.requestMyIbPayout.run;
    if (found.length > 0 || !run) return;
    const made = run.created.map((p) => `${money(p.amount, p.currency)} (${statusLabel(t, p.status)})`).join(", ");
    setRequested(run.created.length > 0 ? t("money.requestMade", { period: run.periodKey, payouts: made })
      : run.existing.length > 0 ? t("money.requestExisting", { period: run.periodKey })
        : t("money.requestNothing", { period: run.periodKey }));
    refetch({ requestPolicy: "network-only" });
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
      <p className="hint">{t("money.requestHint")}</p>
      <FormAlert errors={requestErrors} />
      {requested ? <Notice tone="success"><p data-testid="payout-request">{requested}</p></Notice> : null}
      <button type="button" onClick={() => void request()}>{t("money.request")}</button>
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
