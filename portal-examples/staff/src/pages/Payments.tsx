// Payments across clients (needs payments.read; desk staff see their desk's clients'): deposits and
// withdrawals newest first, each with its client (linked to the client-360 view), filtered by status,
// direction and client (found by name, e-mail or id through `searchClients`; kept in the URL); a succeeded card or local deposit can be
// refunded (all or part) through the provider where the API offers it (payments.manage), the wallet is
// debited when the provider confirms. Withdrawals awaiting approval have their own screen, linked here.
// Below, the bank accounts of the wire methods (./WireAccounts.tsx).
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { Dialog, FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, errorsOf, parseAmountInput, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { PaymentDirection, PaymentStatus } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";
import { WireAccounts } from "./WireAccounts";

const PAGE = 25;

const StaffPaymentsQuery = graphql(`
  query StaffPayments($status: [PaymentStatus!], $direction: PaymentDirection, $clientId: ID, $first: Int, $after: String, $last: Int, $before: String) {
    payments(status: $status, direction: $direction, clientId: $clientId, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id reference direction methodCode status approval currency amount fee failureReason createdAt client { id name } }
    }
  }
`);

const PaymentClientSearchQuery = graphql(`
  query StaffPaymentClientSearch($query: String!) {
    searchClients(query: $query, first: 5) { nodes { email client { id name } } }
  }
`);

/** The client filter: a search by name, e-mail or id whose hits each narrow the list to that client. */
function ClientFilter({ chosen, onChoose }: { chosen: { id: string; name: string } | null; onChoose: (c: { id: string; name: string } | null) => void }) {
  const { t } = useI18n();
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  const [{ data, fetching }] = useQuery({ query: PaymentClientSearchQuery, variables: { query }, pause: !query });
  if (chosen) {
    return (
      <div className="field">
        <span>{t("pay.client")}: <strong data-testid="payments-client">{chosen.name || "—"}</strong></span>{" "}
        <button type="button" className="secondary" onClick={() => onChoose(null)}>{t("pay.anyClient")}</button>
      </div>
    );
  }
  const hits = query ? data?.searchClients.nodes ?? [] : [];
  return (
    <div className="field" role="search" aria-label={t("pay.findClient")}>
      <TextField label={t("pay.client")} name="client" hint={t("pay.clientHint")} value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); setQuery(text.trim()); } }} />
      <button type="button" className="secondary" onClick={() => setQuery(text.trim())}>{t("pay.findClient")}</button>
      {fetching ? <Loading /> : null}
      {query && data && hits.length === 0 ? <p>{t("pay.noClient")}</p> : null}
      {hits.length > 0 ? (
        <ul className="plain">
          {hits.map((h) => (
            <li key={h.client.id}>
              <button type="button" className="secondary" onClick={() => { onChoose({ id: h.client.id, name: h.client.name }); setQuery(""); setText(""); }}>
                {t("pay.onlyClient", { name: h.client.name || h.email })}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

const RefundDepositMutation = graphql(`
  mutation StaffRefundDeposit($input: RefundDepositInput!) {
    refundDeposit(input: $input) { refund { paymentId providerRefundId status } errors { field message code } }
  }
`);

const STATUSES: PaymentStatus[] = ["CREATED", "PENDING", "SUCCEEDED", "FAILED", "CANCELLED", "REFUNDED", "CHARGED_BACK", "RETURNED"];

export function Payments() {
  const { t, dateTime, locale } = useI18n();
  const { viewer } = useSession();
  const canRefund = (viewer?.permissions ?? []).includes("payments.manage");
  const canApprove = (viewer?.permissions ?? []).includes("payments.approve_withdrawal");
  const canConfigure = (viewer?.permissions ?? []).includes("payments.methods.manage");
  const [status, setStatus] = useState<PaymentStatus | "">("");
  const [direction, setDirection] = useState<PaymentDirection | "">("");
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [params, setParams] = useSearchParams();
  const client = params.get("client") ? { id: params.get("client")!, name: params.get("clientName") ?? "" } : null;
  const chooseClient = (c: { id: string; name: string } | null) => {
    setCursor({ first: PAGE });
    setParams((p) => {
      const n = new URLSearchParams(p);
      if (c) { n.set("client", c.id); n.set("clientName", c.name); } else { n.delete("client"); n.delete("clientName"); }
      return n;
    });
  };
  const variables = { ...cursor, status: status ? [status] : null, direction: direction || null, clientId: client?.id ?? null };
  const [{ data, error, fetching }, refetch] = useQuery({ query: StaffPaymentsQuery, variables });
  const [, refund] = useMutation(RefundDepositMutation);
  const [refunding, setRefunding] = useState<{ id: string; reference: string; currency: string; amount: string } | null>(null);
  const [amount, setAmount] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["amount"]);

  if (error && !data) return <QueryError error={error} title={t("pay.title")} />;

  const submitRefund = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!refunding) return;
    const value = parseAmountInput(amount, locale);
    if (value === null) {
      errors.set([{ field: "amount", message: t("pay.amountInvalid"), code: "VALIDATION_FAILED" }]);
      return;
    }
    const result = await refund({ input: { paymentId: refunding.id, amount: value } });
    const payload = result.data?.refundDeposit;
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload, result.error));
      return;
    }
    errors.clear();
    setDone(t("pay.refundAsked", { reference: refunding.reference, status: payload.refund?.status ?? "" }));
    setRefunding(null);
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <>
      <PageTitle>{t("pay.title")}</PageTitle>
      {canApprove ? <p><Link to="/withdrawals">{t("pay.toWithdrawals")}</Link></p> : null}
      {done ? <Notice tone="success">{done}</Notice> : null}
      <form className="filters card" onSubmit={(e) => e.preventDefault()} aria-label={t("pay.filters")}>
        <SelectField label={t("pay.direction")} name="direction" value={direction}
          onChange={(e) => { setDirection(e.target.value as PaymentDirection | ""); setCursor({ first: PAGE }); }}>
          <option value="">{t("pay.any")}</option>
          <option value="DEPOSIT">{t("pay.dir.deposit")}</option>
          <option value="WITHDRAWAL">{t("pay.dir.withdrawal")}</option>
        </SelectField>
        <SelectField label={t("pay.status")} name="status" value={status}
          onChange={(e) => { setStatus(e.target.value as PaymentStatus | ""); setCursor({ first: PAGE }); }}>
          <option value="">{t("pay.any")}</option>
          {STATUSES.map((s) => <option key={s} value={s}>{t(`payStatus.${s}`)}</option>)}
        </SelectField>
        <ClientFilter chosen={client} onChoose={chooseClient} />
      </form>
      {fetching && !data ? <Loading /> : null}
      {data ? (data.payments.nodes.length === 0 ? <p>{t("pay.none")}</p> : (
        <>
          <div className="table-wrap card" tabIndex={0} role="region" aria-label={t("pay.title")}>
            <table data-testid="payments-table">
              <caption className="sr-only">{t("pay.title")}</caption>
              <thead><tr>
                <th scope="col">{t("payment.reference")}</th><th scope="col">{t("pay.client")}</th><th scope="col">{t("pay.direction")}</th>
                <th scope="col">{t("wd.method")}</th><th scope="col">{t("pay.status")}</th>
                <th scope="col" className="num">{t("payment.amount")}</th><th scope="col" className="num">{t("pay.fee")}</th>
                <th scope="col">{t("pay.created")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th>
              </tr></thead>
              <tbody>
                {data.payments.nodes.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">{p.reference}</th>
                    <td>{p.client ? <Link to={`/clients/${encodeURIComponent(p.client.id)}`}>{p.client.name || "—"}</Link> : "—"}</td>
                    <td>{t(`pay.dir.${p.direction}`)}</td>
                    <td>{p.methodCode}</td>
                    <td><span className="status">{t(`payStatus.${p.status}`)}</span>{p.approval === "awaiting" ? <span className="muted"> ({t("pay.awaiting")})</span> : null}</td>
                    <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
                    <td className="num"><Money amount={p.fee} currency={p.currency} /></td>
                    <td>{dateTime(p.createdAt)}</td>
                    <td>
                      {canRefund && p.direction === "deposit" && p.status === "SUCCEEDED" ? (
                        <button type="button" className="secondary" aria-label={t("pay.refundOne", { reference: p.reference })}
                          onClick={() => { errors.clear(); setAmount(p.amount); setRefunding({ id: p.id, reference: p.reference, currency: p.currency, amount: p.amount }); }}>
                          {t("pay.refund")}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.payments.pageInfo} size={PAGE} onPage={setCursor} label={t("pay.title")} />
        </>
      )) : null}
      <WireAccounts canEdit={canConfigure} />
      <Dialog open={refunding !== null} title={t("pay.refundTitle", { reference: refunding?.reference ?? "" })} onClose={() => setRefunding(null)}>
        <form onSubmit={submitRefund} noValidate>
          <FormAlert errors={errors} />
          <TextField label={t("pay.refundAmount", { currency: refunding?.currency ?? "" })} name="amount" errors={errors}
            value={amount} onChange={(e) => setAmount(e.target.value)} inputMode="decimal" required autoFocus />
          <div className="actions">
            <button type="submit">{t("pay.refundSend")}</button>
            <button type="button" className="secondary" onClick={() => setRefunding(null)}>{t("stepup.cancel")}</button>
          </div>
        </form>
      </Dialog>
    </>
  );
}
