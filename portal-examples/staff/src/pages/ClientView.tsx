// The client-360 view: profile, documents, screening hits (with their score against the threshold,
// topics and list; pending ones confirmed or dismissed with kyc.review), trading accounts, wallets,
// payments (the parts a permission guards come back null and are said so), communications (notes,
// calls, e-mails and messages, newest first, by author; logged here with clients.notes), the client's monitoring
// alerts across cases (compliance.read), status history and the audit trail.
import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession,
} from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { AlertList } from "./AmlAlerts";
import { ScreeningHits } from "./Screening";
import { DocumentList } from "./Documents";
import { Pager, QueryError, Status, type Cursor } from "./common";

const Client360Query = graphql(`
  query StaffClient360($id: ID!) {
    client(id: $id) {
      id databaseId userId status email firstName lastName country nationality desk phone dateOfBirth riskLevel riskCategory reviewRound
      documents(first: 50) { nodes { id kind status filename contentType sizeBytes uploadedAt rejectReason } }
      screening(first: 50) { nodes { ...StaffScreeningHitFields } }
      accounts(first: 50) { nodes { id login group leverage currency accountTypeCode } }
      wallets { id currency balance held available }
      payments(first: 20) { nodes { id reference direction methodCode status currency amount createdAt } }
      statusHistory(first: 50) { nodes { fromStatus toStatus reason actorKind at } }
    }
  }
`);

const ClientCommunicationsQuery = graphql(`
  query StaffClientCommunications($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    client(id: $id) {
      id
      communications(first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes { id kind direction subject body at authorName }
      }
    }
  }
`);

const LogCommunicationMutation = graphql(`
  mutation StaffLogCommunication($clientId: ID!, $kind: String!, $direction: String!, $subject: String!, $body: String!) {
    logClientCommunication(clientId: $clientId, kind: $kind, direction: $direction, subject: $subject, body: $body) {
      communication { id } errors { field message code }
    }
  }
`);

const ClientAlertsQuery = graphql(`
  query StaffClientAmlAlerts($userId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    amlDecisions(userId: $userId, alertsOnly: true, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { ...StaffAmlAlertFields }
    }
  }
`);

const ClientAuditQuery = graphql(`
  query StaffClientAudit($entityId: String!) {
    auditEvents(filter: { entityType: "client", entityId: $entityId }, first: 30) {
      nodes { id occurredAt actorKind actorUserId action reason }
    }
  }
`);

export function ClientView() {
  const { id = "" } = useParams();
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: Client360Query, variables: { id } });
  const c = data?.client;
  const [audit] = useQuery({ query: ClientAuditQuery, variables: { entityId: c?.databaseId ?? "" }, pause: !c });
  if (fetching && !data) return <Loading />;
  if (error && !data) return <QueryError error={error} title={t("clients.title")} />;
  if (!c) return <><PageTitle>{t("client.notFound")}</PageTitle><Notice tone="error">{t("client.notFound")}</Notice></>;
  const name = `${c.firstName} ${c.lastName}`.trim() || c.email;
  return (
    <>
      <PageTitle>{name}</PageTitle>
      <p><Link to="/clients">{t("clients.title")}</Link>{c.status === "UNDER_REVIEW" ? <> · <Link to={`/review/${encodeURIComponent(c.id)}`}>{t("review.open")}</Link></> : null}</p>
      <section className="card" aria-labelledby="p-h">
        <h2 id="p-h">{t("client.profile")}</h2>
        <dl className="facts">
          <div><dt>{t("client.status")}</dt><dd><Status status={c.status} /></dd></div>
          <div><dt>{t("client.email")}</dt><dd>{c.email}</dd></div>
          <div><dt>{t("client.country")}</dt><dd>{c.country ?? "—"}</dd></div>
          <div><dt>{t("client.nationality")}</dt><dd>{c.nationality ?? "—"}</dd></div>
          <div><dt>{t("client.desk")}</dt><dd>{c.desk ?? "—"}</dd></div>
          <div><dt>{t("client.phone")}</dt><dd>{c.phone ?? "—"}</dd></div>
          <div><dt>{t("client.risk")}</dt><dd>{c.riskLevel ? t(`risk.${c.riskLevel}`) : "—"}</dd></div>
        </dl>
      </section>
      <div className="grid two">
        <section className="card" aria-labelledby="w-h">
          <h2 id="w-h">{t("client.wallets")}</h2>
          {c.wallets === null || c.wallets === undefined ? <p className="muted">{t("common.notPermitted")}</p> : c.wallets.length === 0 ? <p>{t("common.none")}</p> : (
            <table><caption className="sr-only">{t("client.wallets")}</caption>
              <thead><tr><th scope="col">{t("wallet.currency")}</th><th scope="col" className="num">{t("wallet.balance")}</th><th scope="col" className="num">{t("wallet.available")}</th></tr></thead>
              <tbody>{c.wallets.map((w) => (
                <tr key={w.id}><th scope="row">{w.currency}</th><td className="num"><Money amount={w.balance} currency={w.currency} /></td>
                  <td className="num"><Money amount={w.available} currency={w.currency} /></td></tr>
              ))}</tbody>
            </table>
          )}
        </section>
        <section className="card" aria-labelledby="a-h">
          <h2 id="a-h">{t("client.accounts")}</h2>
          {c.accounts.nodes.length === 0 ? <p>{t("common.none")}</p> : (
            <ul>{c.accounts.nodes.map((a) => <li key={a.id}>{a.login} · {a.accountTypeCode ?? a.group} · {a.currency} · 1:{a.leverage}</li>)}</ul>
          )}
        </section>
      </div>
      <section className="card" aria-labelledby="d-h">
        <h2 id="d-h">{t("docs.title")}</h2>
        <DocumentList documents={c.documents.nodes} />
      </section>
      <section className="card" aria-labelledby="s-h">
        <h2 id="s-h">{t("screening.title")}</h2>
        <ScreeningHits hits={c.screening.nodes} canResolve={!!viewer?.permissions.includes("kyc.review")} onChanged={() => refetch({ requestPolicy: "network-only" })} />
      </section>
      <section className="card" aria-labelledby="pay-h">
        <h2 id="pay-h">{t("client.payments")}</h2>
        {!c.payments ? <p className="muted">{t("common.notPermitted")}</p> : c.payments.nodes.length === 0 ? <p>{t("common.none")}</p> : (
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("client.payments")}><table><caption className="sr-only">{t("client.payments")}</caption>
            <thead><tr><th scope="col">{t("payment.reference")}</th><th scope="col">{t("payment.direction")}</th><th scope="col" className="num">{t("payment.amount")}</th><th scope="col">{t("client.status")}</th><th scope="col">{t("client.since")}</th></tr></thead>
            <tbody>{c.payments.nodes.map((p) => (
              <tr key={p.id}><th scope="row">{p.reference}</th><td>{p.direction}</td><td className="num"><Money amount={p.amount} currency={p.currency} /></td><td>{p.status}</td><td>{dateTime(p.createdAt)}</td></tr>
            ))}</tbody></table></div>
        )}
      </section>
      <Communications clientId={c.id} canLog={!!viewer?.permissions.includes("clients.notes")} />
      {viewer?.permissions.includes("compliance.read") ? <AmlTimeline userId={c.userId} canDecide={viewer.permissions.includes("compliance.review")} /> : null}
      <section className="card" aria-labelledby="h-h">
        <h2 id="h-h">{t("client.history")}</h2>
        <ol>{c.statusHistory.nodes.map((s, i) => (
          <li key={i}>{dateTime(s.at)}: {s.fromStatus ? t(`clientStatus.${s.fromStatus}`) : "—"} → {t(`clientStatus.${s.toStatus}`)} ({s.actorKind}) {s.reason}</li>
        ))}</ol>
      </section>
      <section className="card" aria-labelledby="au-h">
        <h2 id="au-h">{t("client.audit")}</h2>
        {audit.error ? <QueryError error={audit.error} /> : !audit.data ? <Loading /> : (
          <ol data-testid="audit-trail">{audit.data.auditEvents.nodes.map((e) => (
            <li key={e.id}>{dateTime(e.occurredAt)}: {e.action} ({e.actorKind}{e.actorUserId ? ` #${e.actorUserId}` : ""}){e.reason ? ` — ${e.reason}` : ""}</li>
          ))}</ol>
        )}
      </section>
    </>
  );
}

/** The client's monitoring alerts across all their cases, newest first. */
function AmlTimeline({ userId, canDecide }: { userId: string; canDecide: boolean }) {
  const { t } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error }, refetch] = useQuery({ query: ClientAlertsQuery, variables: { userId, ...cursor } });
  return (
    <section className="card" aria-labelledby="aml-t-h" data-testid="aml-timeline">
      <h2 id="aml-t-h">{t("aml.timeline")}</h2>
      {error && !data ? <QueryError error={error} /> : !data ? <Loading /> : data.amlDecisions.nodes.length === 0 ? <p>{t("aml.noAlerts")}</p> : (
        <>
          <AlertList alerts={data.amlDecisions.nodes} canDecide={canDecide} showCase onChanged={() => refetch({ requestPolicy: "network-only" })} />
          <Pager info={data.amlDecisions.pageInfo} size={10} onPage={setCursor} label={t("aml.timeline")} />
        </>
      )}
    </section>
  );
}

const KINDS = ["note", "call", "email", "message"] as const;
const DIRECTIONS = ["internal", "in", "out"] as const;

/** Notes, calls, e-mails and messages on the client, newest first, with who logged each; a new one logged. */
function Communications({ clientId, canLog }: { clientId: string; canLog: boolean }) {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: 10 });
  const [{ data, error }, refetch] = useQuery({ query: ClientCommunicationsQuery, variables: { id: clientId, ...cursor } });
  const [, log] = useMutation(LogCommunicationMutation);
  const [kind, setKind] = useState<string>("note");
  const [direction, setDirection] = useState<string>("internal");
  const [subject, setSubject] = useState("");
  const [body, setBody] = useState("");
  const [done, setDone] = useState(false);
  const errors = useFormErrors(["kind", "direction", "subject", "body"]);
  const list = data?.client?.communications;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(false);
    if (!body.trim()) {
      errors.set([{ field: "body", message: t("comm.giveBody"), code: "VALIDATION_FAILED" }]);
      return;
    }
    const result = await log({ clientId, kind, direction, subject: subject.trim(), body: body.trim() });
    const payload = result.data?.logClientCommunication;
    if (!payload || payload.errors.length > 0) {
      errors.set(errorsOf(payload, result.error));
      return;
    }
    errors.clear();
    setSubject("");
    setBody("");
    setDone(true);
    setCursor({ first: 10 });
    refetch({ requestPolicy: "network-only" });
  };

  return (
    <section className="card" aria-labelledby="comm-h" data-testid="communications">
      <h2 id="comm-h">{t("comm.title")}</h2>
      {error && !data ? <QueryError error={error} /> : !list ? <Loading /> : list.nodes.length === 0 ? <p>{t("comm.none")}</p> : (
        <>
          <ol className="plain">{list.nodes.map((m) => (
            <li key={m.id} data-testid="communication">
              <strong>{t(`comm.kind.${m.kind}`)}</strong> · {t(`comm.direction.${m.direction}`)} · {dateTime(m.at)} · {m.authorName ?? t("comm.system")}
              {m.subject ? <><br /><em>{m.subject}</em></> : null}
              <br />{m.body}
            </li>
          ))}</ol>
          <Pager info={list.pageInfo} size={10} onPage={setCursor} label={t("comm.title")} />
        </>
      )}
      {canLog ? (
        <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby="comm-new-h">
          <h3 id="comm-new-h">{t("comm.new")}</h3>
          <FormAlert errors={errors} />
          <SelectField label={t("comm.kind")} name="kind" errors={errors} value={kind} onChange={(e) => setKind(e.target.value)}>
            {KINDS.map((k) => <option key={k} value={k}>{t(`comm.kind.${k}`)}</option>)}
          </SelectField>
          <SelectField label={t("comm.direction")} name="direction" errors={errors} value={direction} onChange={(e) => setDirection(e.target.value)}>
            {DIRECTIONS.map((d) => <option key={d} value={d}>{t(`comm.direction.${d}`)}</option>)}
          </SelectField>
          <TextField label={t("comm.subject")} name="subject" errors={errors} value={subject} onChange={(e) => setSubject(e.target.value)} />
          <div className={`field${errors.of("body") ? " field-invalid" : ""}`}>
            <label htmlFor="comm-body">{t("comm.body")}</label>
            <textarea id="comm-body" value={body} onChange={(e) => setBody(e.target.value)} rows={3}
              aria-invalid={errors.of("body") ? true : undefined} aria-describedby={errors.of("body") ? "comm-body-error" : undefined} />
            {errors.of("body") ? <p id="comm-body-error" className="field-error" data-code={errors.of("body")!.code}>{errors.of("body")!.message}</p> : null}
          </div>
          <button type="submit">{t("comm.log")}</button>
          {done ? <Notice tone="success">{t("comm.logged")}</Notice> : null}
        </form>
      ) : null}
    </section>
  );
}
