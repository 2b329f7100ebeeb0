// Clients waiting for a compliance decision, oldest first (needs kyc.approve).
import { useState } from "react";
import { Link } from "react-router-dom";
import { useQuery } from "urql";
import { Loading, PageTitle, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { Pager, QueryError, Status, type Cursor } from "./common";

const PAGE = 20;

const ReviewQueueQuery = graphql(`
  query StaffReviewQueue($first: Int, $after: String, $last: Int, $before: String) {
    reviewQueue(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id name status country riskLevel createdAt }
    }
  }
`);

export function ReviewQueue() {
  const { t, dateTime } = useI18n();
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }] = useQuery({ query: ReviewQueueQuery, variables: cursor });
  if (error && !data) return <QueryError error={error} title={t("review.title")} />;
  return (
    <>
      <PageTitle>{t("review.title")}</PageTitle>
      {fetching && !data ? <Loading /> : null}
      {data ? (
        data.reviewQueue.nodes.length === 0 ? <p>{t("review.empty")}</p> : (
          <>
            <p className="muted">{t("review.count", { n: data.reviewQueue.totalCount ?? data.reviewQueue.nodes.length })}</p>
            <div className="table-wrap card" tabIndex={0} role="region" aria-label={t("review.title")}>
              <table>
                <caption className="sr-only">{t("review.title")}</caption>
                <thead><tr>
                  <th scope="col">{t("client.name")}</th><th scope="col">{t("client.country")}</th>
                  <th scope="col">{t("client.risk")}</th><th scope="col">{t("client.status")}</th><th scope="col">{t("client.since")}</th>
                </tr></thead>
                <tbody>
                  {data.reviewQueue.nodes.map((c) => (
                    <tr key={c.id}>
                      <th scope="row"><Link to={`/review/${encodeURIComponent(c.id)}`}>{c.name}</Link></th>
                      <td>{c.country ?? "—"}</td>
                      <td><span className={`status${c.riskLevel === "high" ? " risk-high" : ""}`}>{c.riskLevel ? t(`risk.${c.riskLevel}`) : "—"}</span></td>
                      <td><Status status={c.status} /></td><td>{dateTime(c.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager info={data.reviewQueue.pageInfo} size={PAGE} onPage={setCursor} label={t("review.title")} />
          </>
        )
      ) : null}
    </>
  );
}
