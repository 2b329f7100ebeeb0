// Deposits and withdrawals with their status, live over the paymentUpdated subscription; one payment
// by id (the API answers "not found" for another client's).
import { useEffect } from "react";
import { Link, useParams } from "react-router-dom";
import { useQuery, useSubscription } from "urql";
import { ErrorMessage, Loading, Money, Notice, PageTitle, isNotFound, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const PaymentsQuery = graphql(`
  query ClientPayments {
    myPayments(first: 50) { nodes { id reference direction methodCode status currency amount fee createdAt updatedAt } }
  }
`);

const PaymentQuery = graphql(`
  query ClientPayment($id: ID!) {
    payment(id: $id) {
      id reference direction methodCode status approval currency amount fee failureReason createdAt updatedAt
      cryptoConfirmations { confirmations required dropped }
    }
  }
`);

const PaymentUpdated = graphql(`
  subscription ClientPaymentUpdated {
    paymentUpdated { id reference status direction amount currency }
  }
`);

export function Payments() {
  const { t, dateTime } = useI18n();
  const [{ data, error, fetching }, refetch] = useQuery({ query: PaymentsQuery });
  // A status change arrives live; the list is read again so new payments appear too.
  useSubscription({ query: PaymentUpdated }, (_, event) => {
    refetch({ requestPolicy: "network-only" });
    return event;
  });
  return (
    <>
      <PageTitle>{t("payments.title")}</PageTitle>
      <ErrorMessage error={error} />
      {fetching && !data ? <Loading /> : null}
      {data ? (
        data.myPayments.nodes.length === 0 ? <p>{t("payments.none")}</p> : (
          <div className="table-wrap card">
            <table>
              <caption className="sr-only">{t("payments.title")}</caption>
              <thead><tr>
                <th scope="col">{t("payments.reference")}</th><th scope="col">{t("payments.direction")}</th><th scope="col">{t("funds.method")}</th>
                <th scope="col" className="num">{t("funds.amount")}</th><th scope="col">{t("payments.status")}</th><th scope="col">{t("payments.created")}</th>
              </tr></thead>
              <tbody>
                {data.myPayments.nodes.map((p) => (
                  <tr key={p.id}>
                    <th scope="row"><Link to={`/payments/${encodeURIComponent(p.id)}`}>{p.reference}</Link></th>
                    <td>{t(`payments.${p.direction}`)}</td><td>{p.methodCode}</td>
                    <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
                    <td data-testid="payment-status">{t(`paymentStatus.${p.status}`)}</td><td>{dateTime(p.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
    </>
  );
}

/** How often a pending crypto deposit's confirmations are read again (a block is minutes; the sandbox is quicker). */
const CONFIRMATIONS_POLL_MS = 2_000;

export function PaymentPage() {
  const { id = "" } = useParams();
  const { t, dateTime } = useI18n();
  const [{ data, error, fetching }, refetch] = useQuery({ query: PaymentQuery, variables: { id } });
  useSubscription({ query: PaymentUpdated }, (_, event) => {
    if (event.paymentUpdated.id === id) refetch({ requestPolicy: "network-only" });
    return event;
  });
  // A crypto deposit's confirmations change without a status change: read them again while it is pending.
  const following = data?.payment.cryptoConfirmations != null && data.payment.status === "PENDING";
  useEffect(() => {
    if (!following) return;
    const timer = window.setInterval(() => refetch({ requestPolicy: "network-only" }), CONFIRMATIONS_POLL_MS);
    return () => window.clearInterval(timer);
  }, [following, refetch]);
  if (fetching && !data) return <Loading />;
  if (isNotFound(error) || (!data && !error)) {
    return <><PageTitle>{t("payments.notFound")}</PageTitle><Notice tone="error">{t("payments.notFound")}</Notice></>;
  }
  if (!data) return <ErrorMessage error={error} />;
  const p = data.payment;
  return (
    <>
      <PageTitle>{t("payments.one", { reference: p.reference })}</PageTitle>
      <section className="card" aria-label={t("payments.one", { reference: p.reference })}>
        <dl className="facts">
          <div><dt>{t("payments.direction")}</dt><dd>{t(`payments.${p.direction}`)}</dd></div>
          <div><dt>{t("funds.method")}</dt><dd>{p.methodCode}</dd></div>
          <div><dt>{t("funds.amount")}</dt><dd><Money amount={p.amount} currency={p.currency} /></dd></div>
          <div><dt>{t("payments.fee")}</dt><dd><Money amount={p.fee} currency={p.currency} /></dd></div>
          <div><dt>{t("payments.status")}</dt><dd data-testid="payment-status">{t(`paymentStatus.${p.status}`)}{p.approval ? ` (${p.approval})` : ""}</dd></div>
          {p.cryptoConfirmations ? (
            <div><dt>{t("payments.confirmationsLabel")}</dt><dd data-testid="crypto-confirmations">
              <progress max={p.cryptoConfirmations.required} value={Math.min(p.cryptoConfirmations.confirmations, p.cryptoConfirmations.required)}
                aria-label={t("payments.confirmationsLabel")} />{" "}
              {t("payments.confirmations", { n: p.cryptoConfirmations.confirmations, required: p.cryptoConfirmations.required })}
            </dd></div>
          ) : null}
          <div><dt>{t("payments.created")}</dt><dd>{dateTime(p.createdAt)}</dd></div>
          <div><dt>{t("payments.updated")}</dt><dd>{dateTime(p.updatedAt)}</dd></div>
        </dl>
        {p.cryptoConfirmations?.dropped ? <Notice tone="error">{t("payments.dropped")}</Notice> : null}
        {p.failureReason ? <Notice tone="error">{p.failureReason}</Notice> : null}
      </section>
      <p><Link to="/payments">{t("nav.payments")}</Link></p>
    </>
  );
}
