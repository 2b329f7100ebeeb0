// Business reports (reports.read; loaded on first use): revenue, money flow and the acquisition funnel over a
// period, by a dimension and (revenue, money flow) a granularity. Each report is a chart AND its data table
// (the chart's text alternative names every figure too): by key, and over time for revenue and money flow.
// A figure drills down to what is behind it: a revenue line to its deals, a money-flow line to its deposit
// or withdrawal postings (revenueReportDeals / moneyFlowReportPostings, paged).
// Figures are decimal strings; the per-period totals are added as exact decimals (BigInt), never floats.
import { useState } from "react";
import { useQuery } from "urql";
import { BarChart, FormAlert, atCurrencyScale, Loading, PageTitle, SelectField, TextField, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { FunnelDimension, MoneyDirection, MoneyFlowDimension, ReportBucket, RevenueDimension } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const DRILL_PAGE = 20;
const REVENUE_DIMENSIONS: RevenueDimension[] = ["SYMBOL", "ASSET_CLASS", "SERVER", "GROUP", "BOOK", "DESK"];
const MONEY_DIMENSIONS: MoneyFlowDimension[] = ["METHOD", "CURRENCY", "COUNTRY", "DESK"];
const FUNNEL_DIMENSIONS: FunnelDimension[] = ["CAMPAIGN", "SOURCE", "COUNTRY", "IB"];
const BUCKETS: ReportBucket[] = ["DAY", "WEEK", "MONTH"];
type Kind = "REVENUE" | "MONEY_FLOW" | "FUNNEL";

const RevenueQuery = graphql(`
  query StaffRevenueReport($since: Date!, $until: Date!, $dimension: RevenueDimension!, $bucket: ReportBucket!) {
    revenueReport(since: $since, until: $until, dimension: $dimension, bucket: $bucket) {
      buckets
      lines { key other total { deals volumeLots spreadMarkupUsd commissionUsd swapUsd clientPnlUsd bBookPnlUsd netRevenueUsd unpricedDeals }
        points { bucket figures { netRevenueUsd } } }
      total { deals volumeLots netRevenueUsd }
    }
  }
`);

const MoneyFlowQuery = graphql(`
  query StaffMoneyFlowReport($since: Date!, $until: Date!, $dimension: MoneyFlowDimension!, $bucket: ReportBucket!) {
    moneyFlowReport(since: $since, until: $until, dimension: $dimension, bucket: $bucket) {
      buckets
      lines { key other total { deposits depositsUsd withdrawals withdrawalsUsd netDepositsUsd firstDeposits firstDepositsUsd }
        points { bucket figures { netDepositsUsd } } }
      total { deposits depositsUsd withdrawals withdrawalsUsd netDepositsUsd }
    }
  }
`);

const FunnelQuery = graphql(`
  query StaffFunnelReport($since: Date!, $until: Date!, $dimension: FunnelDimension!) {
    funnelReport(since: $since, until: $until, dimension: $dimension) {
      lines { key leads registered verified approved firstDeposits firstTrades approvedShare firstDepositShare medianHoursToFirstDeposit }
      total { key leads registered verified approved firstDeposits firstTrades approvedShare firstDepositShare medianHoursToFirstDeposit }
    }
  }
`);

const DealsQuery = graphql(`
  query StaffRevenueDeals($since: Date!, $until: Date!, $dimension: RevenueDimension, $key: String, $first: Int, $after: String, $last: Int, $before: String) {
    revenueReportDeals(since: $since, until: $until, dimension: $dimension, key: $key, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { tradingServerId dealId time login symbol volumeLots netRevenueUsd }
    }
  }
`);

const PostingsQuery = graphql(`
  query StaffMoneyFlowPostings($since: Date!, $until: Date!, $direction: MoneyDirection, $dimension: MoneyFlowDimension, $key: String, $first: Int, $after: String, $last: Int, $before: String) {
    moneyFlowReportPostings(since: $since, until: $until, direction: $direction, dimension: $dimension, key: $key, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { postingId entryId time userId direction method currency amount amountUsd firstDeposit }
    }
  }
`);

/** Exact sum of decimal strings. */
function sumDecimal(values: string[]): string {
  const scale = Math.max(0, ...values.map((v) => (v.includes(".") ? v.length - v.indexOf(".") - 1 : 0)));
  let total = 0n;
  for (const v of values) {
    const [whole, frac = ""] = v.replace("-", "").split(".");
    const n = BigInt(whole + frac.padEnd(scale, "0"));
    total += v.startsWith("-") ? -n : n;
  }
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

/** A USD figure at least at the dollar's two places ("13.7" -> $13.70; "6.802" keeps its three). */
function usd(money: (amount: string, currency: string) => string, value: string): string {
  return money(atCurrencyScale(value, "USD"), "USD");
}

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

interface Period { since: string; until: string }

export function Reports() {
  const { t } = useI18n();
  const today = new Date();
  const [kind, setKind] = useState<Kind>("REVENUE");
  const [form, setForm] = useState({ since: isoDay(new Date(today.getTime() - 29 * 86_400_000)), until: isoDay(new Date(today.getTime() + 86_400_000)), dimension: "SYMBOL", bucket: "DAY" as ReportBucket });
  // Each "Show" asks again (a new key remounts the report, whose query is read from the network again).
  const [asked, setAsked] = useState<{ kind: Kind; since: string; until: string; dimension: string; bucket: ReportBucket; n: number } | null>(null);
  const errors = useFormErrors(["since", "until", "dimension", "bucket"]);
  const dims: string[] = kind === "REVENUE" ? REVENUE_DIMENSIONS : kind === "MONEY_FLOW" ? MONEY_DIMENSIONS : FUNNEL_DIMENSIONS;
  const pick = (next: Kind) => {
    setKind(next);
    const first = next === "REVENUE" ? REVENUE_DIMENSIONS[0] : next === "MONEY_FLOW" ? MONEY_DIMENSIONS[0] : FUNNEL_DIMENSIONS[0];
    setForm({ ...form, dimension: first });
  };
  return (
    <>
      <PageTitle>{t("rep.title")}</PageTitle>
      <form className="card" noValidate aria-labelledby="rep-form-h" onSubmit={(e) => {
        e.preventDefault();
        if (!form.since || !form.until || form.since >= form.until) {
          errors.set([{ field: "until", message: t("rep.badPeriod"), code: "VALIDATION_FAILED" }]);
          return;
        }
        errors.clear();
        setAsked({ kind, ...form, n: (asked?.n ?? 0) + 1 });
      }}>
        <h2 id="rep-form-h">{t("rep.choose")}</h2>
        <FormAlert errors={errors} />
        <div className="filters">
          <SelectField label={t("rep.report")} name="report" value={kind} onChange={(e) => pick(e.target.value as Kind)}>
            <option value="REVENUE">{t("rep.kind.REVENUE")}</option>
            <option value="MONEY_FLOW">{t("rep.kind.MONEY_FLOW")}</option>
            <option value="FUNNEL">{t("rep.kind.FUNNEL")}</option>
          </SelectField>
          <TextField label={t("rep.since")} name="since" type="date" value={form.since} errors={errors} onChange={(e) => setForm({ ...form, since: e.target.value })} />
          <TextField label={t("rep.until")} name="until" type="date" value={form.until} errors={errors} hint={t("rep.untilHint")} onChange={(e) => setForm({ ...form, until: e.target.value })} />
          <SelectField label={t("rep.dimension")} name="dimension" errors={errors} value={form.dimension} onChange={(e) => setForm({ ...form, dimension: e.target.value })}>
            {dims.map((d) => <option key={d} value={d}>{t(`rep.dim.${d}`)}</option>)}
          </SelectField>
          {kind !== "FUNNEL" ? (
            <SelectField label={t("rep.bucket")} name="bucket" errors={errors} value={form.bucket} onChange={(e) => setForm({ ...form, bucket: e.target.value as ReportBucket })}>
              {BUCKETS.map((b) => <option key={b} value={b}>{t(`rep.bucket.${b}`)}</option>)}
            </SelectField>
          ) : null}
        </div>
        <div className="actions"><button type="submit">{t("rep.show")}</button></div>
      </form>
      {asked?.kind === "REVENUE" ? <Revenue key={asked.n} period={{ since: asked.since, until: asked.until }} dimension={asked.dimension as RevenueDimension} bucket={asked.bucket} /> : null}
      {asked?.kind === "MONEY_FLOW" ? <MoneyFlow key={asked.n} period={{ since: asked.since, until: asked.until }} dimension={asked.dimension as MoneyFlowDimension} bucket={asked.bucket} /> : null}
      {asked?.kind === "FUNNEL" ? <Funnel key={asked.n} period={{ since: asked.since, until: asked.until }} dimension={asked.dimension as FunnelDimension} /> : null}
    </>
  );
}

function lineLabel(t: (k: string) => string, line: { key?: string | null; other?: boolean }): string {
  return line.other ? t("rep.other") : line.key ?? t("rep.noKey");
}

/** Per-bucket totals over every line, as a chart and its table. */
function OverTime({ title, buckets, points }: { title: string; buckets: readonly string[]; points: ReadonlyArray<{ bucket: string; value: string }> }) {
  const { t, date, money } = useI18n();
  const totals = buckets.map((b) => ({ label: date(b), value: sumDecimal(points.filter((p) => p.bucket === b).map((p) => p.value)) }));
  return (
    <>
      <h3>{title}</h3>
      <BarChart title={title} data={totals} format={(v) => usd(money, v)} />
      <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
        <table>
          <thead><tr><th scope="col">{t("rep.period")}</th><th scope="col" className="num">{t("rep.usd")}</th></tr></thead>
          <tbody>{totals.map((x) => <tr key={x.label}><th scope="row">{x.label}</th><td className="num">{usd(money, x.value)}</td></tr>)}</tbody>
        </table>
      </div>
    </>
  );
}

function Revenue({ period, dimension, bucket }: { period: Period; dimension: RevenueDimension; bucket: ReportBucket }) {
  const { t, money, number } = useI18n();
  const [{ data, error, fetching }] = useQuery({ query: RevenueQuery, variables: { ...period, dimension, bucket }, requestPolicy: "network-only" });
  const [drill, setDrill] = useState<string | null>(null);
  if (error && !data) return <QueryError error={error} />;
  if (fetching || !data) return <Loading />;
  const r = data.revenueReport;
  const title = t("rep.revenueBy", { by: t(`rep.dim.${dimension}`) });
  return (
    <section className="card" aria-labelledby="rep-revenue-h" data-testid="revenue-report">
      <h2 id="rep-revenue-h">{title}</h2>
      {r.lines.length === 0 ? <p>{t("rep.nothing")}</p> : (
        <>
          <BarChart title={title} data={r.lines.map((l) => ({ label: lineLabel(t, l), value: l.total.netRevenueUsd }))} format={(v) => usd(money, v)} />
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table data-testid="revenue-table">
              <caption className="sr-only">{title}</caption>
              <thead><tr>
                <th scope="col">{t(`rep.dim.${dimension}`)}</th><th scope="col" className="num">{t("rep.deals")}</th><th scope="col" className="num">{t("rep.lots")}</th>
                <th scope="col" className="num">{t("rep.markup")}</th><th scope="col" className="num">{t("rep.commission")}</th><th scope="col" className="num">{t("rep.swap")}</th>
                <th scope="col" className="num">{t("rep.bBook")}</th><th scope="col" className="num">{t("rep.net")}</th>
                <th scope="col"><span className="sr-only">{t("rep.drill")}</span></th>
              </tr></thead>
              <tbody>
                {r.lines.map((l) => (
                  <tr key={lineLabel(t, l)}>
                    <th scope="row">{lineLabel(t, l)}</th><td className="num">{l.total.deals}</td><td className="num">{number(l.total.volumeLots)}</td>
                    <td className="num">{usd(money, l.total.spreadMarkupUsd)}</td><td className="num">{usd(money, l.total.commissionUsd)}</td>
                    <td className="num">{usd(money, l.total.swapUsd)}</td><td className="num">{usd(money, l.total.bBookPnlUsd)}</td>
                    <td className="num">{usd(money, l.total.netRevenueUsd)}</td>
                    <td>{!l.other && l.key ? <button type="button" className="secondary" aria-label={t("rep.dealsOf", { key: l.key })} aria-pressed={drill === l.key}
                      onClick={() => setDrill(l.key ?? null)}>{t("rep.deals")}</button> : null}</td>
                  </tr>
                ))}
              </tbody>
              <tfoot><tr><th scope="row">{t("rep.total")}</th><td className="num">{r.total.deals}</td><td className="num">{number(r.total.volumeLots)}</td>
                <td colSpan={4} /><td className="num">{usd(money, r.total.netRevenueUsd)}</td><td /></tr></tfoot>
            </table>
          </div>
          <OverTime title={t("rep.netOverTime", { bucket: t(`rep.bucket.${bucket}`) })} buckets={r.buckets}
            points={r.lines.flatMap((l) => l.points.map((p) => ({ bucket: p.bucket, value: p.figures.netRevenueUsd })))} />
          {drill ? <Deals key={drill} period={period} dimension={dimension} itemKey={drill} /> : null}
        </>
      )}
    </section>
  );
}

function Deals({ period, dimension, itemKey }: { period: Period; dimension: RevenueDimension; itemKey: string }) {
  const { t, dateTime, money, number } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: DRILL_PAGE });
  const [{ data, error }] = useQuery({ query: DealsQuery, variables: { ...period, dimension, key: itemKey, ...cursor } });
  const title = t("rep.dealsOf", { key: itemKey });
  return (
    <div data-testid="revenue-deals">
      <h3>{title}</h3>
      <QueryError error={error} />
      {!data ? <Loading /> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <thead><tr><th scope="col">{t("rep.deal")}</th><th scope="col">{t("rep.time")}</th><th scope="col">{t("rep.login")}</th>
                <th scope="col">{t("rep.symbol")}</th><th scope="col" className="num">{t("rep.lots")}</th><th scope="col" className="num">{t("rep.net")}</th></tr></thead>
              <tbody>
                {data.revenueReportDeals.nodes.map((d) => (
                  <tr key={`${d.tradingServerId}-${d.dealId}`}>
                    <th scope="row">{d.dealId}</th><td>{dateTime(d.time)}</td><td>{d.login}</td><td>{d.symbol}</td>
                    <td className="num">{number(d.volumeLots)}</td><td className="num">{d.netRevenueUsd ? usd(money, d.netRevenueUsd) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.revenueReportDeals.pageInfo} size={DRILL_PAGE} onPage={setCursor} label={title} />
        </>
      )}
    </div>
  );
}

function MoneyFlow({ period, dimension, bucket }: { period: Period; dimension: MoneyFlowDimension; bucket: ReportBucket }) {
  const { t, money } = useI18n();
  const [{ data, error, fetching }] = useQuery({ query: MoneyFlowQuery, variables: { ...period, dimension, bucket }, requestPolicy: "network-only" });
  const [drill, setDrill] = useState<{ key: string; direction: MoneyDirection } | null>(null);
  if (error && !data) return <QueryError error={error} />;
  if (fetching || !data) return <Loading />;
  const r = data.moneyFlowReport;
  const title = t("rep.flowBy", { by: t(`rep.dim.${dimension}`) });
  return (
    <section className="card" aria-labelledby="rep-flow-h" data-testid="money-flow-report">
      <h2 id="rep-flow-h">{title}</h2>
      {r.lines.length === 0 ? <p>{t("rep.nothing")}</p> : (
        <>
          <BarChart title={title} data={r.lines.map((l) => ({ label: lineLabel(t, l), value: l.total.netDepositsUsd }))} format={(v) => usd(money, v)} />
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <caption className="sr-only">{title}</caption>
              <thead><tr>
                <th scope="col">{t(`rep.dim.${dimension}`)}</th><th scope="col" className="num">{t("rep.deposits")}</th><th scope="col" className="num">{t("rep.withdrawals")}</th>
                <th scope="col" className="num">{t("rep.netDeposits")}</th><th scope="col" className="num">{t("rep.firstDeposits")}</th>
                <th scope="col"><span className="sr-only">{t("rep.drill")}</span></th>
              </tr></thead>
              <tbody>
                {r.lines.map((l) => (
                  <tr key={lineLabel(t, l)}>
                    <th scope="row">{lineLabel(t, l)}</th>
                    <td className="num">{usd(money, l.total.depositsUsd)} ({l.total.deposits})</td>
                    <td className="num">{usd(money, l.total.withdrawalsUsd)} ({l.total.withdrawals})</td>
                    <td className="num">{usd(money, l.total.netDepositsUsd)}</td>
                    <td className="num">{usd(money, l.total.firstDepositsUsd)} ({l.total.firstDeposits})</td>
                    <td>{!l.other && l.key ? (["DEPOSIT", "WITHDRAWAL"] as MoneyDirection[]).map((d) => (
                      <button key={d} type="button" className="secondary" aria-label={t(`rep.postingsOf.${d}`, { key: l.key ?? "" })}
                        onClick={() => setDrill({ key: l.key ?? "", direction: d })}>{t(`rep.direction.${d}`)}</button>
                    )) : null}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <OverTime title={t("rep.flowOverTime", { bucket: t(`rep.bucket.${bucket}`) })} buckets={r.buckets}
            points={r.lines.flatMap((l) => l.points.map((p) => ({ bucket: p.bucket, value: p.figures.netDepositsUsd })))} />
          {drill ? <Postings key={`${drill.key}-${drill.direction}`} period={period} dimension={dimension} itemKey={drill.key} direction={drill.direction} /> : null}
        </>
      )}
    </section>
  );
}

function Postings({ period, dimension, itemKey, direction }: { period: Period; dimension: MoneyFlowDimension; itemKey: string; direction: MoneyDirection }) {
  const { t, dateTime, money } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: DRILL_PAGE });
  const [{ data, error }] = useQuery({ query: PostingsQuery, variables: { ...period, dimension, key: itemKey, direction, ...cursor } });
  const title = t(`rep.postingsOf.${direction}`, { key: itemKey });
  return (
    <div data-testid="money-flow-postings">
      <h3>{title}</h3>
      <QueryError error={error} />
      {!data ? <Loading /> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
            <table>
              <thead><tr><th scope="col">{t("rep.entry")}</th><th scope="col">{t("rep.time")}</th><th scope="col">{t("rep.user")}</th>
                <th scope="col">{t("rep.method")}</th><th scope="col" className="num">{t("rep.amount")}</th><th scope="col" className="num">{t("rep.usd")}</th></tr></thead>
              <tbody>
                {data.moneyFlowReportPostings.nodes.map((p) => (
                  <tr key={p.postingId}>
                    <th scope="row">{p.entryId}</th><td>{dateTime(p.time)}</td><td>{p.userId}</td><td>{p.method}{p.firstDeposit ? ` · ${t("rep.first")}` : ""}</td>
                    <td className="num">{money(p.amount, p.currency)}</td><td className="num">{p.amountUsd ? usd(money, p.amountUsd) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager info={data.moneyFlowReportPostings.pageInfo} size={DRILL_PAGE} onPage={setCursor} label={title} />
        </>
      )}
    </div>
  );
}

function share(v: string | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return v;
}

function Funnel({ period, dimension }: { period: Period; dimension: FunnelDimension }) {
  const { t } = useI18n();
  const [{ data, error, fetching }] = useQuery({ query: FunnelQuery, variables: { ...period, dimension }, requestPolicy: "network-only" });
  if (error && !data) return <QueryError error={error} />;
  if (fetching || !data) return <Loading />;
  const r = data.funnelReport;
  const title = t("rep.funnelBy", { by: t(`rep.dim.${dimension}`) });
  const steps: Array<[string, number]> = [["registered", r.total.registered], ["verified", r.total.verified], ["approved", r.total.approved],
    ["firstDeposits", r.total.firstDeposits], ["firstTrades", r.total.firstTrades]];
  return (
    <section className="card" aria-labelledby="rep-funnel-h" data-testid="funnel-report">
      <h2 id="rep-funnel-h">{title}</h2>
      <BarChart title={t("rep.funnelSteps")} data={steps.map(([k, n]) => ({ label: t(`rep.step.${k}`), value: String(n) }))} />
      <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
        <table>
          <caption className="sr-only">{title}</caption>
          <thead><tr>
            <th scope="col">{t(`rep.dim.${dimension}`)}</th><th scope="col" className="num">{t("rep.step.leads")}</th>
            {steps.map(([k]) => <th key={k} scope="col" className="num">{t(`rep.step.${k}`)}</th>)}
            <th scope="col" className="num">{t("rep.approvedShare")}</th><th scope="col" className="num">{t("rep.depositShare")}</th>
            <th scope="col" className="num">{t("rep.hoursToDeposit")}</th>
          </tr></thead>
          <tbody>
            {[...r.lines, { ...r.total, key: null }].map((l, i) => (
              <tr key={i}>
                <th scope="row">{i === r.lines.length ? t("rep.total") : (l.key ?? t("rep.noKey"))}</th><td className="num">{l.leads}</td>
                <td className="num">{l.registered}</td><td className="num">{l.verified}</td><td className="num">{l.approved}</td>
                <td className="num">{l.firstDeposits}</td><td className="num">{l.firstTrades}</td>
                <td className="num">{share(l.approvedShare)}</td><td className="num">{share(l.firstDepositShare)}</td><td className="num">{share(l.medianHoursToFirstDeposit)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
