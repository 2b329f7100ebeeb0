// Commissions of the last 30 days: totals by symbol, then each line, newest first (myIbCommissionLines,
// paged), each with its line id, "how was this computed" from myIbCommissionLine and a link to dispute it.
import { useState } from "react";
import { useQuery } from "urql";
import { Link } from "react-router-dom";
import { ErrorMessage, Loading, Money, PageTitle, useI18n } from "@forexcrm/portal-shared";
import { CommissionsQuery, LineQuery } from "../operations";
import { lastDays } from "../period";

const PERIOD = lastDays(30);
const PAGE = 25;
type Cursor = { first?: number; after?: string; last?: number; before?: string };

function Explanation({ lineId }: { lineId: string }) {
  const { t, dateTime } = useI18n();
  const [{ data, fetching, error }] = useQuery({ query: LineQuery, variables: { lineId } });
  if (fetching && !data) return <Loading />;
  if (!data) return <ErrorMessage error={error} />;
  const x = data.myIbCommissionLine;
  return (
    <div className="explanation" data-testid={`explanation-${lineId}`}>
      <p><strong>{t("commissions.formula")}</strong> <code>{x.formula}</code></p>
      <dl className="facts">
        <dt>{t("commissions.kind")}</dt><dd>{x.kind}</dd>
        <dt>{t("commissions.source")}</dt><dd>{x.source}</dd>
        <dt>{t("commissions.level")}</dt><dd>{x.level}</dd>
        <dt>{t("commissions.dealTime")}</dt><dd>{dateTime(x.dealTime)}</dd>
        <dt>{t("commissions.amount")}</dt><dd><Money amount={x.amount} currency={x.currency} /></dd>
      </dl>
      <details><summary>{t("commissions.inputs")}</summary><pre>{JSON.stringify({ line: x.line, deal: x.deal, clause: x.clause }, null, 2)}</pre></details>
    </div>
  );
}

export function CommissionsPage() {
  const { t, dateTime, number } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, fetching, error }] = useQuery({ query: CommissionsQuery, variables: { ...PERIOD, ...cursor } });
  const [open, setOpen] = useState<string | null>(null);
  const lines = data?.myIbCommissionLines.nodes ?? [];
  const pageInfo = data?.myIbCommissionLines.pageInfo;
  return (
    <>
      <PageTitle>{t("commissions.title")}</PageTitle>
      <p className="muted">{t("commissions.period")}</p>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      {data ? (
        <>
          <h2>{t("commissions.bySymbol")}</h2>
          {data.myIbCommissions.length === 0 ? <p>{t("commissions.none")}</p> : (
            <div className="table-wrap"><table>
              <thead><tr><th scope="col">{t("commissions.symbol")}</th><th scope="col">{t("commissions.lines")}</th><th scope="col">{t("commissions.lots")}</th><th scope="col">{t("commissions.amount")}</th></tr></thead>
              <tbody>{data.myIbCommissions.map((g) => (
                <tr key={`${g.key}-${g.currency}`}><th scope="row">{g.key}</th><td>{g.lines}</td><td>{number(g.lots)}</td><td><Money amount={g.amount} currency={g.currency} /></td></tr>
              ))}</tbody>
            </table></div>
          )}
          <h2>{t("commissions.lineTitle")}</h2>
          <ul className="lines">
            {lines.map((line) => {
              const id = line.databaseId;
              return (
                <li key={line.id} data-testid="commission-line">
                  <span>{dateTime(line.dealTime)}</span>{" "}
                  <span className="pill">{line.symbol || line.source}</span>{" "}
                  <span>{t("commissions.levelN", { level: line.level })}</span>{" "}
                  <strong><Money amount={line.amount} currency={line.currency} /></strong>{" "}
                  <span className="muted" data-testid="line-id">{t("commissions.lineId", { id })}</span>{" "}
                  <button type="button" className="secondary" aria-expanded={open === id}
                    onClick={() => setOpen(open === id ? null : id)}>{t("commissions.explain")}</button>{" "}
                  <Link to={`/disputes?lineId=${encodeURIComponent(id)}`}>{t("commissions.dispute", { id })}</Link>
                  {open === id ? <Explanation lineId={id} /> : null}
                </li>
              );
            })}
          </ul>
          {pageInfo && (pageInfo.hasNextPage || pageInfo.hasPreviousPage) ? (
            <nav className="pager" aria-label={t("commissions.lineTitle")}>
              <button type="button" className="secondary" disabled={!pageInfo.hasPreviousPage || !pageInfo.startCursor}
                onClick={() => setCursor({ last: PAGE, before: pageInfo.startCursor ?? undefined })}>{t("commissions.newer")}</button>
              <button type="button" className="secondary" disabled={!pageInfo.hasNextPage || !pageInfo.endCursor}
                onClick={() => setCursor({ first: PAGE, after: pageInfo.endCursor ?? undefined })}>{t("commissions.older")}</button>
            </nav>
          ) : null}
        </>
      ) : null}
    </>
  );
}
