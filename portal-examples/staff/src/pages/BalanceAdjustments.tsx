// Balance adjustments with four eyes (needs ledger.adjust): a client found by e-mail or name, one of
// their wallets, an amount (at most the currency's places: the API refuses more, beside the field) and
// a reason. Up to the threshold it posts at once; above it a request waits for a second, unrelated
// staff member, who sees who asked (by name) and approves (it posts) or rejects it with a reason.
// A fresh authenticator code is asked for wherever the API answers STEP_UP_REQUIRED.
import { useState } from "react";
import { Link } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, errorsOf, newIdempotencyKey, parseAmountInput,
  useFormErrors, useI18n, useStepUp,
} from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 20;

const FindClientsQuery = graphql(`
  query StaffAdjustFindClients($query: String!) {
    searchClients(query: $query, first: 10) {
      nodes { email client { id name wallets { id currency balance available } } }
    }
  }
`);

const PendingAdjustmentsQuery = graphql(`
  query StaffPendingAdjustments($first: Int, $after: String, $last: Int, $before: String) {
    pendingBalanceAdjustments(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id amount currency reason createdAt requestedByName requestedById client { id name } }
    }
  }
`);

const AdjustBalanceMutation = graphql(`
  mutation StaffAdjustBalance($input: AdjustBalanceInput!) {
    adjustBalance(input: $input) {
      pending entryId wallet { id currency balance }
      adjustment { id requestedByName }
      errors { field message code }
    }
  }
`);

const ApproveAdjustmentMutation = graphql(`
  mutation StaffApproveAdjustment($id: ID!) {
    approveBalanceAdjustment(id: $id) {
      adjustment { id status requestedByName decidedByName } wallet { id currency balance }
      errors { field message code }
    }
  }
`);

const RejectAdjustmentMutation = graphql(`
  mutation StaffRejectAdjustment($id: ID!, $reason: String!) {
    rejectBalanceAdjustment(id: $id, reason: $reason) {
      adjustment { id status decidedByName } errors { field message code }
    }
  }
`);

export function BalanceAdjustments() {
  const { t } = useI18n();
  const [version, setVersion] = useState(0); // a new request: the waiting list is read again
  return (
    <>
      <PageTitle>{t("adj.title")}</PageTitle>
      <RequestAdjustment onRequested={() => setVersion((v) => v + 1)} />
      <PendingAdjustments key={version} />
    </>
  );
}

function RequestAdjustment({ onRequested }: { onRequested: () => void }) {
  const { t, locale } = useI18n();
  const withStepUp = useStepUp();
  const [search, setSearch] = useState("");
  const [query, setQuery] = useState("");
  const [found] = useQuery({ query: FindClientsQuery, variables: { query }, pause: !query });
  const [walletId, setWalletId] = useState("");
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [key, setKey] = useState(newIdempotencyKey);
  const [done, setDone] = useState<string | null>(null);
  const [, adjust] = useMutation(AdjustBalanceMutation);
  const errors = useFormErrors(["walletId", "amount", "reason"]);
  const wallets = (found.data?.searchClients.nodes ?? []).flatMap((n) =>
    (n.client.wallets ?? []).map((w) => ({ ...w, client: n.client.name || n.email, email: n.email })));

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    const local: Array<{ field: string; message: string; code: string }> = [];
    if (!walletId) local.push({ field: "walletId", message: t("adj.chooseWallet"), code: "VALIDATION_FAILED" });
    const value = parseAmountInput(amount, locale);
    if (value === null) local.push({ field: "amount", message: t("adj.amountFormat"), code: "INVALID_AMOUNT" });
    if (!reason.trim()) local.push({ field: "reason", message: t("adj.giveReason"), code: "VALIDATION_FAILED" });
    if (local.length > 0) {
      errors.set(local);
      return;
    }
    const result = await withStepUp(async () => (await adjust({
      input: { walletId, amount: value!, reason: reason.trim(), idempotencyKey: key },
    })).data?.adjustBalance);
    if (!result || result.errors.length > 0) {
      errors.set(errorsOf(result));
      if (result?.errors.some((e) => e.code === "IDEMPOTENCY_KEY_REUSED")) setKey(newIdempotencyKey());
      return;
    }
    errors.clear();
    setKey(newIdempotencyKey());
    setAmount("");
    setReason("");
    if (result.pending) onRequested();
    setDone(result.pending ? t("adj.pending") : t("adj.posted", { balance: result.wallet?.balance ?? "", currency: result.wallet?.currency ?? "" }));
  };

  return (
    <section className="card" aria-labelledby="adj-new-h">
      <h2 id="adj-new-h">{t("adj.new")}</h2>
      <form onSubmit={(e) => { e.preventDefault(); setQuery(search.trim()); setWalletId(""); }} noValidate>
        <TextField label={t("adj.findClient")} name="clientSearch" value={search} onChange={(e) => setSearch(e.target.value)}
          hint={t("adj.findHint")} />
        <button type="submit" className="secondary">{t("adj.find")}</button>
      </form>
      {found.error ? <QueryError error={found.error} /> : null}
      {query && found.fetching ? <Loading /> : null}
      {query && found.data && wallets.length === 0 ? <p>{t("adj.noWallets")}</p> : null}
      <form onSubmit={(e) => void submit(e)} noValidate>
        <FormAlert errors={errors} />
        <SelectField label={t("adj.wallet")} name="walletId" errors={errors} value={walletId} onChange={(e) => setWalletId(e.target.value)}>
          <option value="">{t("adj.pickWallet")}</option>
          {wallets.map((w) => (
            <option key={w.id} value={w.id}>{`${w.client} (${w.email}) · ${w.currency} · ${w.balance}`}</option>
          ))}
        </SelectField>
        <TextField label={t("adj.amount")} name="amount" errors={errors} value={amount} inputMode="decimal"
          onChange={(e) => setAmount(e.target.value)} hint={t("adj.amountHint")} />
        <TextField label={t("adj.reason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
        <button type="submit">{t("adj.submit")}</button>
      </form>
      {done ? <Notice tone="success">{done}</Notice> : null}
    </section>
  );
}

function PendingAdjustments() {
  const { t, dateTime } = useI18n();
  const withStepUp = useStepUp();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: PendingAdjustmentsQuery, variables: cursor, requestPolicy: "cache-and-network" });
  const [, approve] = useMutation(ApproveAdjustmentMutation);
  const [, reject] = useMutation(RejectAdjustmentMutation);
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["reason"]);

  const act = async (id: string, kind: "approve" | "reject") => {
    setDone(null);
    if (kind === "reject" && !reason.trim()) {
      errors.set([{ field: "reason", message: t("adj.giveReason"), code: "VALIDATION_FAILED" }]);
      return;
    }
    const payload = kind === "approve"
      ? await withStepUp(async () => (await approve({ id })).data?.approveBalanceAdjustment)
      : await withStepUp(async () => (await reject({ id, reason: reason.trim() })).data?.rejectBalanceAdjustment);
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload));
      return;
    }
    errors.clear();
    setReason("");
    const a = payload.adjustment;
    setDone(t(kind === "approve" ? "adj.approved" : "adj.rejected", { name: a?.decidedByName ?? "" }));
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <section className="card" aria-labelledby="adj-pending-h">
      <h2 id="adj-pending-h">{t("adj.waiting")}</h2>
      {done ? <Notice tone="success">{done}</Notice> : null}
      <form onSubmit={(e) => e.preventDefault()} noValidate>
        <FormAlert errors={errors} />
        <TextField label={t("adj.rejectReason")} name="reason" id="adj-reject-reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
      </form>
      {error && !data ? <QueryError error={error} /> : null}
      {fetching && !data ? <Loading /> : null}
      {data ? (data.pendingBalanceAdjustments.nodes.length === 0 ? <p>{t("adj.none")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("adj.waiting")}>
            <table data-testid="pending-adjustments">
              <caption className="sr-only">{t("adj.waiting")}</caption>
              <thead><tr>
                <th scope="col">{t("adj.client")}</th><th scope="col" className="num">{t("adj.amount")}</th>
                <th scope="col">{t("adj.reason")}</th><th scope="col">{t("adj.requestedBy")}</th>
                <th scope="col">{t("adj.requestedAt")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th>
              </tr></thead>
              <tbody>
                {data.pendingBalanceAdjustments.nodes.map((a) => (
                  <tr key={a.id}>
                    <th scope="row">{a.client ? <Link to={`/clients/${encodeURIComponent(a.client.id)}`}>{a.client.name || a.client.id}</Link> : "—"}</th>
                    <td className="num"><Money amount={a.amount} currency={a.currency} /></td>
                    <td>{a.reason}</td>
                    <td>{a.requestedByName ?? t("adj.unnamed")}</td>
                    <td>{dateTime(a.createdAt)}</td>
                    <td><div className="actions">
                      <button type="button" aria-label={t("adj.approveOne", { reason: a.reason })} onClick={() => void act(a.id, "approve")}>{t("review.approve")}</button>
                      <button type="button" className="secondary" aria-label={t("adj.rejectOne", { reason: a.reason })} onClick={() => void act(a.id, "reject")}>{t("review.reject")}</button>
                    </div></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.pendingBalanceAdjustments.pageInfo} size={PAGE} onPage={setCursor} label={t("adj.waiting")} />
        </>
      )) : null}
    </section>
  );
}
