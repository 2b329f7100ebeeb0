// Monitoring alerts as the case and the client-360 view show them: what the scenario decided on which
// payment, its score, and why (each rule: hit or not, the score it added, and the values its
// comparisons read, by their path in the rule document); a decision that holds the payment is released
// or, for a withdrawal, declined here with a reason (compliance.review).
import { useState } from "react";
import { Link } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { FormAlert, Money, Notice, TextField, atCurrencyScale, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { StaffAmlAlertFieldsFragment } from "../gql/graphql";

export const AmlAlertFields = graphql(`
  fragment StaffAmlAlertFields on AmlDecision {
    id databaseId scenarioId versionId trigger paymentId event score outcome holdStatus caseId createdAt
    explain { rule hit score values }
  }
`);

const ScenarioNamesQuery = graphql(`
  query StaffAmlScenarioNames($ids: [ID!]!) {
    nodes(ids: $ids) { ... on AmlScenario { id name } }
  }
`);

const ReleaseHoldMutation = graphql(`
  mutation StaffReleaseAmlHold($id: ID!, $reason: String!) {
    releaseAmlHold(decisionId: $id, reason: $reason) { decision { id holdStatus } errors { field message code } }
  }
`);

const DeclineHoldMutation = graphql(`
  mutation StaffDeclineAmlHold($id: ID!, $reason: String!) {
    declineAmlHold(decisionId: $id, reason: $reason) { decision { id holdStatus } errors { field message code } }
  }
`);

export type AmlAlert = StaffAmlAlertFieldsFragment;

/** Scenario names by global id, for the alerts shown. */
export function useScenarioNames(ids: string[]): Record<string, string> {
  const unique = [...new Set(ids)].sort();
  const [{ data }] = useQuery({ query: ScenarioNamesQuery, variables: { ids: unique }, pause: unique.length === 0 });
  const names: Record<string, string> = {};
  for (const node of data?.nodes ?? []) if (node && "name" in node) names[node.id] = node.name;
  return names;
}

function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The event's amount in its currency (at the currency's scale: the event keeps it normalised), when it names both. */
function eventAmount(event: unknown): { amount: string; currency: string } | null {
  if (!event || typeof event !== "object") return null;
  const { amount, currency } = event as Record<string, unknown>;
  return (typeof amount === "string" || typeof amount === "number") && typeof currency === "string" ? { amount: atCurrencyScale(String(amount), currency), currency } : null;
}

export function AlertList({ alerts, canDecide, showCase, onChanged }: { alerts: AmlAlert[]; canDecide: boolean; showCase?: boolean; onChanged?: () => void }) {
  const names = useScenarioNames(alerts.map((a) => a.scenarioId));
  return (
    <ol className="plain" data-testid="aml-alerts">
      {alerts.map((a) => <Alert key={a.id} alert={a} scenario={names[a.scenarioId]} canDecide={canDecide} showCase={showCase} onChanged={onChanged} />)}
    </ol>
  );
}

function Alert({ alert, scenario, canDecide, showCase, onChanged }: { alert: AmlAlert; scenario?: string; canDecide: boolean; showCase?: boolean; onChanged?: () => void }) {
  const { t, dateTime } = useI18n();
  const money = eventAmount(alert.event);
  const heading = t("aml.alertOf", { id: alert.databaseId, scenario: scenario ?? t("aml.scenarioNo", { id: alert.scenarioId }) });
  return (
    <li className="card" data-testid="aml-alert" aria-labelledby={`alert-${alert.databaseId}`}>
      <h3 id={`alert-${alert.databaseId}`}>{heading}</h3>
      <dl className="facts">
        <div><dt>{t("aml.outcome")}</dt><dd><span className="status">{t(`aml.outcome.${alert.outcome}`)}</span></dd></div>
        <div><dt>{t("aml.score")}</dt><dd>{alert.score}</dd></div>
        <div><dt>{t("aml.trigger")}</dt><dd>{t(`aml.trigger.${alert.trigger}`)}</dd></div>
        {money ? <div><dt>{t("aml.amount")}</dt><dd><Money amount={money.amount} currency={money.currency} /></dd></div> : null}
        <div><dt>{t("aml.at")}</dt><dd>{dateTime(alert.createdAt)}</dd></div>
        <div><dt>{t("aml.hold")}</dt><dd data-testid="aml-hold-status">{alert.holdStatus ? t(`aml.hold.${alert.holdStatus}`) : t("aml.hold.none")}</dd></div>
        {showCase && alert.caseId ? <div><dt>{t("aml.case")}</dt><dd><Link to={`/aml/cases/${encodeURIComponent(alert.caseId)}`}>{t("aml.openCase")}</Link></dd></div> : null}
      </dl>
      <div className="table-wrap" tabIndex={0} role="region" aria-label={t("aml.whyOf", { id: alert.databaseId })}>
        <table data-testid="aml-explain">
          <caption className="sr-only">{t("aml.whyOf", { id: alert.databaseId })}</caption>
          <thead><tr><th scope="col">{t("aml.rule")}</th><th scope="col">{t("aml.hit")}</th><th scope="col" className="num">{t("aml.added")}</th><th scope="col">{t("aml.values")}</th></tr></thead>
          <tbody>
            {alert.explain.map((e) => (
              <tr key={e.rule}>
                <th scope="row">{e.rule}</th>
                <td>{e.hit ? t("aml.yes") : t("aml.no")}</td>
                <td className="num">{e.hit ? e.score : "0"}</td>
                <td>
                  <ul className="plain">{Object.entries((e.values ?? {}) as Record<string, unknown>).map(([path, value]) => (
                    <li key={path}><code>{path}</code> = <strong>{shown(value)}</strong></li>
                  ))}</ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {canDecide && alert.holdStatus === "held" ? <HoldActions alert={alert} onChanged={onChanged} /> : null}
    </li>
  );
}

function HoldActions({ alert, onChanged }: { alert: AmlAlert; onChanged?: () => void }) {
  const { t } = useI18n();
  const [, release] = useMutation(ReleaseHoldMutation);
  const [, decline] = useMutation(DeclineHoldMutation);
  const [reason, setReason] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const errors = useFormErrors(["reason"]);
  const decide = async (releasing: boolean) => {
    const r = releasing ? await release({ id: alert.id, reason: reason.trim() }) : await decline({ id: alert.id, reason: reason.trim() });
    const payload = r.data ? ("releaseAmlHold" in r.data ? r.data.releaseAmlHold : r.data.declineAmlHold) : undefined;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t(releasing ? "aml.released" : "aml.declined"));
    onChanged?.();
  };
  return (
    <form className="filters" noValidate onSubmit={(e) => e.preventDefault()} aria-label={t("aml.holdOf", { id: alert.databaseId })}>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      <TextField label={t("aml.holdReason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
      <div className="actions">
        <button type="button" onClick={() => void decide(true)}>{t("aml.release")}</button>
        {alert.trigger === "withdrawal" ? <button type="button" className="secondary" onClick={() => void decide(false)}>{t("aml.decline")}</button> : null}
      </div>
    </form>
  );
}
