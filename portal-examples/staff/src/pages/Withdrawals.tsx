// Withdrawals awaiting approval, oldest first (needs payments.approve_withdrawal): approve (two
// approvers above the threshold: the second sees who approved first, by name; a fresh authenticator code where the API answers STEP_UP_REQUIRED)
// or reject with a reason (the held amount is released).
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Money, Notice, PageTitle, useFormErrors, useI18n, useStepUp } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 20;

const PendingWithdrawalsQuery = graphql(`
  query StaffPendingWithdrawals($first: Int, $after: String, $last: Int, $before: String) {
    pendingWithdrawals(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id reference methodCode status approval currency amount fee createdAt approvals { staffUserId name approvedAt } }
    }
  }
`);

const ApproveWithdrawalMutation = graphql(`
  mutation StaffApproveWithdrawal($id: ID!) {
    approveWithdrawal(id: $id) { payment { id status approval approvals { staffUserId name approvedAt } } errors { field message code } }
  }
`);

const RejectWithdrawalMutation = graphql(`
  mutation StaffRejectWithdrawal($id: ID!, $reason: String!) {
    rejectWithdrawal(id: $id, reason: $reason) { payment { id status } errors { field message code } }
  }
`);

export function Withdrawals() {
  const { t, dateTime } = useI18n();
  const withStepUp = useStepUp();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: PendingWithdrawalsQuery, variables: cursor });
  const [, approve] = useMutation(ApproveWithdrawalMutation);
  const [, reject] = useMutation(RejectWithdrawalMutation);
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["reason"]);

  if (error && !data) return <QueryError error={error} title={t("wd.title")} />;

  const act = async (id: string, reference: string, kind: "approve" | "reject") => {
    setDone(null);
    const payload = kind === "approve"
      ? await withStepUp(async () => (await approve({ id })).data?.approveWithdrawal)
      : await withStepUp(async () => (await reject({ id, reason: reason.trim() })).data?.rejectWithdrawal);
    if (!payload) {
      errors.set([{ field: null, message: "error", code: "INTERNAL_SERVER_ERROR" }]);
      return;
    }
    if (payload.errors.length > 0) {
      errors.set(payload.errors);
      return;
    }
    errors.clear();
    setDone(t(kind === "approve" ? "wd.approved" : "wd.rejected", { reference, status: payload.payment?.status ?? "" }));
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <>
      <PageTitle>{t("wd.title")}</PageTitle>
      {done ? <Notice tone="success">{done}</Notice> : null}
      <form onSubmit={(e) => e.preventDefault()} noValidate>
        <FormAlert errors={errors} />
        <div className={`field${errors.of("reason") ? " field-invalid" : ""}`}>
          <label htmlFor="wd-reason">{t("wd.reason")}</label>
          <input id="wd-reason" value={reason} onChange={(e) => setReason(e.target.value)}
            aria-invalid={errors.of("reason") ? true : undefined} aria-describedby={errors.of("reason") ? "wd-reason-error" : undefined} />
          {errors.of("reason") ? <p id="wd-reason-error" className="field-error">{errors.of("reason")!.message}</p> : null}
        </div>
      </form>
      {fetching && !data ? <Loading /> : null}
      {data ? (data.pendingWithdrawals.nodes.length === 0 ? <p>{t("wd.none")}</p> : (
        <>
          <div className="table-wrap card" tabIndex={0} role="region" aria-label={t("wd.title")}>
            <table>
              <caption className="sr-only">{t("wd.title")}</caption>
              <thead><tr>
                <th scope="col">{t("payment.reference")}</th><th scope="col">{t("wd.method")}</th>
                <th scope="col" className="num">{t("payment.amount")}</th><th scope="col">{t("wd.approval")}</th>
                <th scope="col">{t("client.since")}</th><th scope="col"><span className="sr-only">{t("wd.actions")}</span></th>
              </tr></thead>
              <tbody>
                {data.pendingWithdrawals.nodes.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">{p.reference}</th><td>{p.methodCode}</td>
                    <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
                    <td data-testid="wd-approvals">{p.approvals && p.approvals.length > 0
                      ? p.approvals.map((a) => t("wd.approvedBy", { name: a.name, at: dateTime(a.approvedAt) })).join("; ")
                      : t("wd.noApprovalYet")}</td><td>{dateTime(p.createdAt)}</td>
                    <td><div className="actions">
                      <button type="button" aria-label={t("wd.approveOne", { reference: p.reference })} onClick={() => void act(p.id, p.reference, "approve")}>{t("review.approve")}</button>
                      <button type="button" className="secondary" aria-label={t("wd.rejectOne", { reference: p.reference })} onClick={() => void act(p.id, p.reference, "reject")}>{t("review.reject")}</button>
                    </div></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.pendingWithdrawals.pageInfo} size={PAGE} onPage={setCursor} label={t("wd.title")} />
        </>
      )) : null}
    </>
  );
}
