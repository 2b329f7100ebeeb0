// One client under review: profile, screening hits, documents (viewed through signed links), the
// decisions so far in this round, and approve / reject / ask for more information. A high-risk
// client needs two approvals from different, unrelated staff members (four eyes): the second
// approver sees who made the first, and the API refuses the same person twice.
import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, useFormErrors, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { ReviewDecision } from "../gql/graphql";
import { DocumentList } from "./Documents";
import { QueryError, Status, databaseIdOf } from "./common";

const ReviewClientQuery = graphql(`
  query StaffReviewClient($id: ID!) {
    client(id: $id) {
      id databaseId status email firstName lastName country riskLevel riskCategory reviewRound dateOfBirth phone
      kyc { provider verdict reason }
      documents(first: 50) { nodes { id kind status filename contentType sizeBytes uploadedAt rejectReason } }
      screening(first: 50) { nodes { id listName entityCaption score status topics } }
    }
  }
`);

const DecisionsQuery = graphql(`
  query StaffClientDecisions($entityId: String!) {
    auditEvents(filter: { entityType: "client", entityId: $entityId, action: "client.decision" }, first: 20) {
      nodes { id actorUserId occurredAt after reason }
    }
  }
`);

const DecideClientMutation = graphql(`
  mutation StaffDecideClient($clientId: ID!, $decision: ReviewDecision!, $reason: String!) {
    decideClient(clientId: $clientId, decision: $decision, reason: $reason) {
      client { id status }
      errors { field message code }
    }
  }
`);

export function ReviewClient() {
  const { id = "" } = useParams();
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: ReviewClientQuery, variables: { id } });
  const client = data?.client;
  const [decisions, refetchDecisions] = useQuery({
    query: DecisionsQuery, variables: { entityId: client?.databaseId ?? "" }, pause: !client,
  });
  const [, decide] = useMutation(DecideClientMutation);
  const [viewed, setViewed] = useState<Set<string>>(new Set());
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const errors = useFormErrors(["reason"]);

  if (fetching && !data) return <Loading />;
  if (error && !data) return <QueryError error={error} title={t("review.title")} />;
  if (!client) return <><PageTitle>{t("client.notFound")}</PageTitle><Notice tone="error">{t("client.notFound")}</Notice></>;

  const me = databaseIdOf(viewer?.id ?? "");
  const thisRound = (decisions.data?.auditEvents.nodes ?? []).filter((e) => {
    const after = e.after as { round?: number; decision?: string } | null;
    return after?.round === client.reviewRound;
  });
  const approvals = thisRound.filter((e) => (e.after as { decision?: string } | null)?.decision === "approve");
  const documents = client.documents.nodes;
  const allViewed = documents.every((d) => viewed.has(d.id));
  const name = `${client.firstName} ${client.lastName}`.trim() || client.email;

  const submit = async (decision: ReviewDecision) => {
    setDone(null);
    const result = await decide({ clientId: client.id, decision, reason: reason.trim() });
    const payload = result.data?.decideClient;
    if (!payload) {
      errors.set([{ field: null, message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }]);
      return;
    }
    if (payload.errors.length > 0) {
      errors.set(payload.errors);
      return;
    }
    errors.clear();
    const status = payload.client?.status;
    setDone(decision === "APPROVE" && status === "UNDER_REVIEW" ? t("review.firstApprovalDone") : t("review.decided", { status: t(`clientStatus.${status}`) }));
    refetch({ requestPolicy: "network-only" });
    refetchDecisions({ requestPolicy: "network-only" });
  };

  return (
    <>
      <PageTitle>{t("review.one", { name })}</PageTitle>
      <p><Link to="/review">{t("review.back")}</Link> · <Link to={`/clients/${encodeURIComponent(client.id)}`}>{t("client.open360")}</Link></p>
      <section className="card" aria-labelledby="profile-h">
        <h2 id="profile-h">{t("client.profile")}</h2>
        <dl className="facts">
          <div><dt>{t("client.status")}</dt><dd><Status status={client.status} /></dd></div>
          <div><dt>{t("client.email")}</dt><dd>{client.email}</dd></div>
          <div><dt>{t("client.country")}</dt><dd>{client.country ?? "—"}</dd></div>
          <div><dt>{t("client.dob")}</dt><dd>{client.dateOfBirth ?? "—"}</dd></div>
          <div><dt>{t("client.phone")}</dt><dd>{client.phone ?? "—"}</dd></div>
          <div><dt>{t("client.risk")}</dt><dd data-testid="risk-level">{client.riskLevel ? t(`risk.${client.riskLevel}`) : "—"}</dd></div>
          <div><dt>{t("client.round")}</dt><dd>{client.reviewRound}</dd></div>
          <div><dt>{t("client.kyc")}</dt><dd>{client.kyc ? `${client.kyc.provider}: ${client.kyc.verdict ?? "—"}` : "—"}</dd></div>
        </dl>
      </section>
      <section className="card" aria-labelledby="screening-h">
        <h2 id="screening-h">{t("screening.title")}</h2>
        {client.screening.nodes.length === 0 ? <p>{t("screening.none")}</p> : (
          <ul>{client.screening.nodes.map((h) => (
            <li key={h.id}>{h.listName}: {h.entityCaption ?? "—"} ({t("screening.score", { score: h.score.toFixed(2) })}, {h.status})</li>
          ))}</ul>
        )}
      </section>
      <section className="card" aria-labelledby="docs-h">
        <h2 id="docs-h">{t("docs.title")}</h2>
        <DocumentList documents={documents} onViewed={(docId) => setViewed((s) => new Set(s).add(docId))} />
      </section>
      <section className="card" aria-labelledby="decide-h">
        <h2 id="decide-h">{t("review.decision")}</h2>
        {client.riskLevel === "high" ? <p>{t("review.fourEyes")}</p> : null}
        {approvals.length > 0 ? (
          <ul data-testid="earlier-approvals">
            {approvals.map((a) => (
              <li key={a.id}>{t("review.approvedBy", {
                who: a.actorUserId !== null && a.actorUserId !== undefined && String(a.actorUserId) === me ? t("review.you") : t("review.staffUser", { id: String(a.actorUserId ?? "?") }),
                at: dateTime(a.occurredAt),
              })}</li>
            ))}
          </ul>
        ) : null}
        {done ? <Notice tone="success">{done}</Notice> : null}
        {client.status === "UNDER_REVIEW" ? (
          <form onSubmit={(e) => e.preventDefault()} noValidate>
            <FormAlert errors={errors} />
            <div className={`field${errors.of("reason") ? " field-invalid" : ""}`}>
              <label htmlFor="reason">{t("review.reason")}</label>
              <textarea id="reason" value={reason} onChange={(e) => setReason(e.target.value)}
                aria-invalid={errors.of("reason") ? true : undefined} aria-describedby={errors.of("reason") ? "reason-error" : "reason-hint"} />
              {errors.of("reason") ? <p id="reason-error" className="field-error">{errors.of("reason")!.message}</p>
                : <p id="reason-hint" className="hint">{t("review.reasonHint")}</p>}
            </div>
            {!allViewed ? <p className="hint" id="view-first">{t("review.viewFirst")}</p> : null}
            <div className="actions">
              <button type="button" disabled={!allViewed} aria-describedby={!allViewed ? "view-first" : undefined}
                onClick={() => void submit("APPROVE")}>{t("review.approve")}</button>
              <button type="button" className="secondary" onClick={() => void submit("REQUEST_INFO")}>{t("review.requestInfo")}</button>
              <button type="button" className="secondary" onClick={() => void submit("REJECT")}>{t("review.reject")}</button>
            </div>
          </form>
        ) : null}
      </section>
    </>
  );
}
