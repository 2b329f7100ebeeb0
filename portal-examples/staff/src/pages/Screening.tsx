// Screening hits as client-360 and an AML case show them: the matched list entity, the score against the
// matcher's threshold, its topics, when it was found; a pending hit confirmed (the client is blocked) or
// dismissed with a reason by staff with kyc.review.
import { useState } from "react";
import { useMutation } from "urql";
import { FormAlert, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { StaffScreeningHitFieldsFragment } from "../gql/graphql";

export const ScreeningHitFields = graphql(`
  fragment StaffScreeningHitFields on ScreeningHit {
    id databaseId listName listVersion entityCaption score threshold status topics at
  }
`);

const ResolveHitMutation = graphql(`
  mutation StaffResolveScreeningHit($id: ID!, $confirmed: Boolean!, $reason: String!) {
    resolveScreeningHit(resultId: $id, confirmed: $confirmed, reason: $reason) { hit { id status } errors { field message code } }
  }
`);

type Hit = StaffScreeningHitFieldsFragment;

export function ScreeningHits({ hits, canResolve, onChanged }: { hits: Hit[]; canResolve: boolean; onChanged: () => void }) {
  const { t, dateTime } = useI18n();
  if (hits.length === 0) return <p>{t("screening.none")}</p>;
  return (
    <ul className="plain" data-testid="screening-hits">
      {hits.map((h) => (
        <li key={h.id} className="role">
          <h3>{h.entityCaption ?? "—"} <span className="muted">({h.listName} {h.listVersion})</span></h3>
          <dl className="facts">
            <div><dt>{t("screening.scoreLabel")}</dt><dd>{t("screening.scoreOf", { score: h.score.toFixed(2), threshold: h.threshold.toFixed(2) })}</dd></div>
            <div><dt>{t("screening.status")}</dt><dd><span className="status">{h.status}</span></dd></div>
            <div><dt>{t("screening.topics")}</dt><dd>{h.topics.length ? h.topics.join(", ") : "—"}</dd></div>
            <div><dt>{t("screening.found")}</dt><dd>{dateTime(h.at)}</dd></div>
          </dl>
          {canResolve && h.status === "pending" ? <ResolveHit hit={h} onChanged={onChanged} /> : null}
        </li>
      ))}
    </ul>
  );
}

function ResolveHit({ hit, onChanged }: { hit: Hit; onChanged: () => void }) {
  const { t } = useI18n();
  const [, resolve] = useMutation(ResolveHitMutation);
  const [reason, setReason] = useState("");
  const errors = useFormErrors(["reason"]);
  const decide = async (confirmed: boolean) => {
    const r = await resolve({ id: hit.id, confirmed, reason: reason.trim() });
    const payload = r.data?.resolveScreeningHit;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    onChanged();
  };
  return (
    <form className="filters" noValidate onSubmit={(e) => e.preventDefault()} aria-label={t("screening.resolveOf", { name: hit.entityCaption ?? hit.databaseId })}>
      <FormAlert errors={errors} />
      <TextField label={t("screening.reason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
      <div className="actions">
        <button type="button" className="secondary" onClick={() => void decide(false)}>{t("screening.dismiss")}</button>
        <button type="button" onClick={() => void decide(true)}>{t("screening.confirm")}</button>
      </div>
    </form>
  );
}

