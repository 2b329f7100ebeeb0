// A commission plan's versions (ib.read) and the editor of its next one (ib.manage_plans): each version
// as stored, its clauses with the rates entered and what each level earns (derived by the API); a draft
// version built here (from scratch or from the latest version's clauses), clause by clause (per lot,
// commission or spread-markup share, revenue share, CPA; which symbols and account groups it matches),
// and committed with addIbPlanVersion: in force from its start, closing the open-ended latest version.
// The API names the clause at fault (`clauses[1].markupPips`), so each error shows beside its field.
// The draft lives in the browser's session storage until committed (the API keeps no drafts).
import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession, type FormErrors } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { IbClauseInput, IbClauseKind, IbDistribution, IbSide, StaffIbPlanQuery } from "../gql/graphql";
import { QueryError } from "./common";

const PlanQuery = graphql(`
  query StaffIbPlan($id: ID!) {
    node(id: $id) {
      ... on IbPlan {
        id databaseId name currency isDefault currentIbs
        versions {
          databaseId version distribution validFrom validTo createdBy createdByName createdAt
          clauses { clauseNo kind levelRates payoutRates baseRate maxTotal symbols excludedSymbols accountGroups side lotModifier markupPips minHoldSeconds params }
        }
      }
    }
  }
`);

const AddVersionMutation = graphql(`
  mutation StaffAddIbPlanVersion($input: AddIbPlanVersionInput!) {
    addIbPlanVersion(input: $input) { ok id errors { field message code } }
  }
`);

type Plan = Extract<NonNullable<StaffIbPlanQuery["node"]>, { versions: unknown }>;
type StoredClause = Plan["versions"][number]["clauses"][number];

const KINDS: IbClauseKind[] = ["PER_LOT" as IbClauseKind, "COMMISSION_SHARE" as IbClauseKind, "SPREAD_SHARE" as IbClauseKind,
  "REVENUE_SHARE" as IbClauseKind, "CPA" as IbClauseKind];
const SIDES: IbSide[] = ["BOTH" as IbSide, "OPEN" as IbSide, "CLOSE" as IbSide];
const CPA_PARAMS = ["min_deposit", "deposit_days", "min_lots", "lots_days"] as const;

/** A clause as the form edits it: lists as comma-separated text, every number as typed. */
interface ClauseDraft {
  kind: IbClauseKind; levelRates: string; baseRate: string; maxTotal: string; symbols: string; excludedSymbols: string;
  accountGroups: string; side: IbSide; lotModifier: string; markupPips: string; minHoldSeconds: string;
  params: Record<string, string>;
}
interface Draft { distribution: IbDistribution; validFrom: string; validTo: string; allowRetroactive: boolean; clauses: ClauseDraft[] }

const CLAUSE_FIELDS = ["kind", "levelRates", "baseRate", "maxTotal", "symbols", "excludedSymbols", "accountGroups", "side",
  "lotModifier", "markupPips", "minHoldSeconds", "params", ...CPA_PARAMS.map((p) => `params.${p}`), "params.cost_per_lot", "params.carry_forward"];

function blankClause(): ClauseDraft {
  return { kind: "PER_LOT" as IbClauseKind, levelRates: "", baseRate: "1", maxTotal: "1", symbols: "", excludedSymbols: "",
    accountGroups: "", side: "BOTH" as IbSide, lotModifier: "1", markupPips: "0", minHoldSeconds: "0", params: {} };
}

function fromStored(c: StoredClause): ClauseDraft {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries((c.params ?? {}) as Record<string, unknown>)) params[k] = String(v);
  return { kind: c.kind, levelRates: c.levelRates.join(", "), baseRate: c.baseRate, maxTotal: c.maxTotal,
    symbols: (c.symbols ?? []).join(", "), excludedSymbols: c.excludedSymbols.join(", "), accountGroups: (c.accountGroups ?? []).join(", "),
    side: c.side, lotModifier: c.lotModifier, markupPips: c.markupPips, minHoldSeconds: String(c.minHoldSeconds), params };
}

const list = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);

function toInput(c: ClauseDraft): IbClauseInput {
  const params: Record<string, unknown> = {};
  if (c.kind === "CPA") {
    for (const p of CPA_PARAMS) params[p] = p.endsWith("_days") && /^\d+$/.test(c.params[p] ?? "") ? Number(c.params[p]) : (c.params[p] ?? "").trim();
  } else if (c.kind === "REVENUE_SHARE") {
    if ((c.params.cost_per_lot ?? "").trim()) params.cost_per_lot = c.params.cost_per_lot.trim();
    params.carry_forward = c.params.carry_forward !== "false";
  }
  const symbols = list(c.symbols), groups = list(c.accountGroups);
  return { kind: c.kind, levelRates: list(c.levelRates), baseRate: c.baseRate.trim(), maxTotal: c.maxTotal.trim(),
    symbols: symbols.length ? symbols : null, excludedSymbols: list(c.excludedSymbols), accountGroups: groups.length ? groups : null,
    side: c.side, lotModifier: c.lotModifier.trim(), markupPips: c.markupPips.trim(),
    minHoldSeconds: /^\d+$/.test(c.minHoldSeconds.trim()) ? Number(c.minHoldSeconds.trim()) : 0, params };
}

function emptyDraft(): Draft {
  return { distribution: "PERCENT" as IbDistribution, validFrom: "", validTo: "", allowRetroactive: false, clauses: [blankClause()] };
}

/** The draft of a plan's next version, kept for the browser tab until it is committed or discarded. */
function useDraft(planId: string): [Draft, (d: Draft) => void, () => void] {
  const key = `ib-plan-draft:${planId}`;
  const [draft, setDraft] = useState<Draft>(() => {
    try { return JSON.parse(sessionStorage.getItem(key) ?? "") as Draft; } catch { return emptyDraft(); }
  });
  useEffect(() => { sessionStorage.setItem(key, JSON.stringify(draft)); }, [key, draft]);
  return [draft, setDraft, () => { sessionStorage.removeItem(key); setDraft(emptyDraft()); }];
}

export function IbPlanView() {
  const { id = "" } = useParams();
  const { t } = useI18n();
  const { viewer } = useSession();
  const [{ data, error, fetching }, refetch] = useQuery({ query: PlanQuery, variables: { id } });
  const plan = data?.node && "versions" in data.node ? (data.node as Plan) : null;
  if (fetching && !data) return <Loading />;
  if (error && !data) return <QueryError error={error} title={t("ibPlan.title")} />;
  if (!plan) return <><PageTitle>{t("ibPlan.notFound")}</PageTitle><Notice tone="error">{t("ibPlan.notFound")}</Notice></>;
  const canEdit = !!viewer?.permissions.includes("ib.manage_plans");
  return (
    <>
      <PageTitle>{t("ibPlan.heading", { name: plan.name })}</PageTitle>
      <p><Link to="/ib">{t("nav.ib")}</Link> · {plan.currency} · {t("ibPlan.ibsOn", { count: plan.currentIbs })}</p>
      <section className="card" aria-labelledby="ibv-h">
        <h2 id="ibv-h">{t("ibPlan.versions")}</h2>
        {plan.versions.length === 0 ? <p>{t("ib.planNoVersion")}</p> : plan.versions.map((v) => <Version key={v.databaseId} v={v} />)}
      </section>
      {canEdit ? <Editor plan={plan} onCommitted={() => refetch({ requestPolicy: "network-only" })} /> : null}
    </>
  );
}

function Version({ v }: { v: Plan["versions"][number] }) {
  const { t, dateTime } = useI18n();
  return (
    <article className="version" data-testid={`ib-plan-version-${v.version}`} aria-labelledby={`ibv-${v.version}`}>
      <h3 id={`ibv-${v.version}`}>{t("ibPlan.versionTitle", { version: v.version })}</h3>
      <p>{t(`ibPlan.dist.${v.distribution}`)} · {t("ibPlan.validity", { from: dateTime(v.validFrom), to: v.validTo ? dateTime(v.validTo) : t("ibPlan.open") })}
        {" · "}{t("ibPlan.addedBy", { who: v.createdByName || (v.createdBy ? `#${v.createdBy}` : "—"), at: dateTime(v.createdAt) })}</p>
      <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ibPlan.clausesOf", { version: v.version })}>
        <table>
          <caption className="sr-only">{t("ibPlan.clausesOf", { version: v.version })}</caption>
          <thead><tr><th scope="col">#</th><th scope="col">{t("ibPlan.kind")}</th><th scope="col">{t("ibPlan.levelRates")}</th>
            <th scope="col">{t("ibPlan.payoutRates")}</th><th scope="col">{t("ibPlan.matches")}</th><th scope="col">{t("ibPlan.settings")}</th></tr></thead>
          <tbody>{v.clauses.map((c) => (
            <tr key={c.clauseNo}>
              <th scope="row">{c.clauseNo}</th>
              <td>{t(`ibPlan.kind.${c.kind}`)}</td>
              <td>{c.levelRates.join(" / ")}{v.distribution === "PERCENT" ? ` × ${c.baseRate}` : ""}</td>
              <td data-testid="payout-rates">{c.payoutRates.join(" / ")} ({t("ibPlan.cap", { cap: c.maxTotal })})</td>
              <td>{t("ibPlan.symbolsAre", { symbols: c.symbols?.join(", ") ?? t("ibPlan.all") })}
                {c.excludedSymbols.length ? ` ${t("ibPlan.except", { symbols: c.excludedSymbols.join(", ") })}` : ""}
                {"; "}{t("ibPlan.groupsAre", { groups: c.accountGroups?.join(", ") ?? t("ibPlan.all") })}; {t(`ibPlan.side.${c.side}`)}</td>
              <td>{[c.lotModifier !== "1" ? `${t("ibPlan.lotModifier")} ${c.lotModifier}` : "",
                c.kind === "SPREAD_SHARE" ? `${t("ibPlan.markupPips")} ${c.markupPips}` : "",
                c.minHoldSeconds ? `${t("ibPlan.minHold")} ${c.minHoldSeconds}` : "",
                ...Object.entries((c.params ?? {}) as Record<string, unknown>).map(([k, val]) => `${t(`ibPlan.param.${k}`)} ${String(val)}`)].filter(Boolean).join("; ") || "—"}</td>
            </tr>
          ))}</tbody>
        </table>
      </div>
    </article>
  );
}

function Editor({ plan, onCommitted }: { plan: Plan; onCommitted: () => void }) {
  const { t } = useI18n();
  const [draft, setDraft, discard] = useDraft(plan.id);
  const [, add] = useMutation(AddVersionMutation);
  const [notice, setNotice] = useState<string | null>(null);
  const fields = ["planId", "distribution", "validFrom", "validTo", "clauses",
    ...draft.clauses.flatMap((_, i) => [`clauses[${i}]`, ...CLAUSE_FIELDS.map((f) => `clauses[${i}].${f}`)])];
  const errors = useFormErrors(fields);
  const latest = plan.versions[0];
  const set = (patch: Partial<Draft>) => { setDraft({ ...draft, ...patch }); setNotice(null); };
  const setClause = (i: number, patch: Partial<ClauseDraft>) => set({ clauses: draft.clauses.map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  const commit = async (e: React.FormEvent) => {
    e.preventDefault();
    const local: { field: string; message: string; code: string }[] = [];
    const from = draft.validFrom ? new Date(draft.validFrom) : null;
    const to = draft.validTo ? new Date(draft.validTo) : null;
    if (!from || Number.isNaN(from.getTime())) local.push({ field: "validFrom", message: t("ib.dateInvalid"), code: "VALIDATION_FAILED" });
    if (to && Number.isNaN(to.getTime())) local.push({ field: "validTo", message: t("ib.dateInvalid"), code: "VALIDATION_FAILED" });
    if (local.length || !from) { errors.set(local); return; }
    const r = await add({ input: { planId: plan.id, distribution: draft.distribution, validFrom: from.toISOString(),
      validTo: to ? to.toISOString() : null, allowRetroactive: draft.allowRetroactive, clauses: draft.clauses.map(toInput) } });
    const payload = r.data?.addIbPlanVersion;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    discard();
    setNotice(t("ibPlan.committed", { version: (latest?.version ?? 0) + 1 }));
    onCommitted();
  };
  return (
    <section className="card" aria-labelledby="ibd-h">
      <h2 id="ibd-h">{t("ibPlan.draft")}</h2>
      <p className="muted">{t("ibPlan.draftExplain")}</p>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <div className="actions">
        {latest ? <button type="button" className="secondary" onClick={() => set({ distribution: latest.distribution, clauses: latest.clauses.map(fromStored) })}>
          {t("ibPlan.fromLatest", { version: latest.version })}</button> : null}
        <button type="button" className="secondary" onClick={() => { discard(); errors.clear(); }}>{t("ibPlan.discard")}</button>
      </div>
      <form noValidate onSubmit={commit} aria-labelledby="ibd-h">
        <FormAlert errors={errors} />
        <div className="filters">
          <SelectField label={t("ibPlan.distribution")} name="distribution" errors={errors} value={draft.distribution}
            onChange={(e) => set({ distribution: e.target.value as IbDistribution })}>
            <option value="PERCENT">{t("ibPlan.dist.PERCENT")}</option><option value="OVERRIDE">{t("ibPlan.dist.OVERRIDE")}</option>
          </SelectField>
          <TextField label={t("ibPlan.validFrom")} name="validFrom" type="datetime-local" errors={errors} value={draft.validFrom}
            onChange={(e) => set({ validFrom: e.target.value })} required />
          <TextField label={t("ibPlan.validTo")} name="validTo" type="datetime-local" errors={errors} hint={t("ibPlan.validToHint")} value={draft.validTo}
            onChange={(e) => set({ validTo: e.target.value })} />
          <label className="choice"><input type="checkbox" checked={draft.allowRetroactive} onChange={(e) => set({ allowRetroactive: e.target.checked })} /> {t("ibPlan.retroactive")}</label>
        </div>
        {draft.clauses.map((c, i) => (
          <ClauseEditor key={i} index={i} clause={c} distribution={draft.distribution} errors={errors}
            onChange={(patch) => setClause(i, patch)}
            onRemove={draft.clauses.length > 1 ? () => set({ clauses: draft.clauses.filter((_, j) => j !== i) }) : undefined} />
        ))}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => set({ clauses: [...draft.clauses, blankClause()] })}>{t("ibPlan.addClause")}</button>
          <button type="submit">{t("ibPlan.commit")}</button>
        </div>
      </form>
    </section>
  );
}

function ClauseEditor({ index, clause: c, distribution, errors, onChange, onRemove }: {
  index: number; clause: ClauseDraft; distribution: IbDistribution; errors: FormErrors;
  onChange: (patch: Partial<ClauseDraft>) => void; onRemove?: () => void;
}) {
  const { t } = useI18n();
  const n = (f: string) => `clauses[${index}].${f}`;
  const whole = errors.of(`clauses[${index}]`) ?? errors.of(n("params"));
  const param = (p: string, v: string) => onChange({ params: { ...c.params, [p]: v } });
  return (
    <fieldset className="clause" data-testid={`clause-${index + 1}`}>
      <legend>{t("ibPlan.clauseTitle", { no: index + 1 })}</legend>
      {whole ? <p className="field-error" role="alert" data-code={whole.code}>{whole.message}</p> : null}
      <div className="filters">
        <SelectField label={t("ibPlan.kind")} name={n("kind")} errors={errors} value={c.kind} onChange={(e) => onChange({ kind: e.target.value as IbClauseKind })}>
          {KINDS.map((k) => <option key={k} value={k}>{t(`ibPlan.kind.${k}`)}</option>)}
        </SelectField>
        <TextField label={t("ibPlan.levelRates")} name={n("levelRates")} errors={errors} value={c.levelRates} required
          hint={t(distribution === "PERCENT" ? "ibPlan.levelRatesPercentHint" : "ibPlan.levelRatesOverrideHint")}
          onChange={(e) => onChange({ levelRates: e.target.value })} />
        {distribution === "PERCENT" ? <TextField label={t("ibPlan.baseRate")} name={n("baseRate")} errors={errors} value={c.baseRate}
          hint={t("ibPlan.baseRateHint")} onChange={(e) => onChange({ baseRate: e.target.value })} inputMode="decimal" /> : null}
        <TextField label={t("ibPlan.maxTotal")} name={n("maxTotal")} errors={errors} value={c.maxTotal} hint={t("ibPlan.maxTotalHint")}
          onChange={(e) => onChange({ maxTotal: e.target.value })} inputMode="decimal" />
        {c.kind === "SPREAD_SHARE" ? <TextField label={t("ibPlan.markupPips")} name={n("markupPips")} errors={errors} value={c.markupPips}
          onChange={(e) => onChange({ markupPips: e.target.value })} inputMode="decimal" /> : null}
      </div>
      <div className="filters">
        <TextField label={t("ibPlan.symbols")} name={n("symbols")} errors={errors} value={c.symbols} hint={t("ibPlan.patternHint")}
          onChange={(e) => onChange({ symbols: e.target.value })} />
        <TextField label={t("ibPlan.excludedSymbols")} name={n("excludedSymbols")} errors={errors} value={c.excludedSymbols}
          onChange={(e) => onChange({ excludedSymbols: e.target.value })} />
        <TextField label={t("ibPlan.accountGroups")} name={n("accountGroups")} errors={errors} value={c.accountGroups} hint={t("ibPlan.patternHint")}
          onChange={(e) => onChange({ accountGroups: e.target.value })} />
        <SelectField label={t("ibPlan.side")} name={n("side")} errors={errors} value={c.side} onChange={(e) => onChange({ side: e.target.value as IbSide })}>
          {SIDES.map((s) => <option key={s} value={s}>{t(`ibPlan.side.${s}`)}</option>)}
        </SelectField>
        <TextField label={t("ibPlan.lotModifier")} name={n("lotModifier")} errors={errors} value={c.lotModifier}
          onChange={(e) => onChange({ lotModifier: e.target.value })} inputMode="decimal" />
        <TextField label={t("ibPlan.minHold")} name={n("minHoldSeconds")} errors={errors} value={c.minHoldSeconds}
          onChange={(e) => onChange({ minHoldSeconds: e.target.value })} inputMode="numeric" />
      </div>
      {c.kind === "CPA" ? <div className="filters">
        {CPA_PARAMS.map((p) => <TextField key={p} label={t(`ibPlan.param.${p}`)} name={n(`params.${p}`)} errors={errors} value={c.params[p] ?? ""}
          onChange={(e) => param(p, e.target.value)} inputMode="decimal" required />)}
      </div> : null}
      {c.kind === "REVENUE_SHARE" ? <div className="filters">
        <TextField label={t("ibPlan.param.cost_per_lot")} name={n("params.cost_per_lot")} errors={errors} value={c.params.cost_per_lot ?? ""}
          onChange={(e) => param("cost_per_lot", e.target.value)} inputMode="decimal" />
        <label className="choice"><input type="checkbox" checked={c.params.carry_forward !== "false"}
          onChange={(e) => param("carry_forward", String(e.target.checked))} /> {t("ibPlan.param.carry_forward")}</label>
      </div> : null}
      {onRemove ? <div className="actions"><button type="button" className="secondary" onClick={onRemove}>{t("ibPlan.removeClause", { no: index + 1 })}</button></div> : null}
    </fieldset>
  );
}
