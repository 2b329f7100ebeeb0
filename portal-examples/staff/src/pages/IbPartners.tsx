// The IB network's lists (needs ib.read): every IB partner, applicants included, found by name, e-mail or
// id (`ibPartners`), with its parent and plan now; and every payout across IBs, newest first, by status
// (`ibPayouts`: held for review, or paid). Both paged over their cursor connections.
import { useEffect, useState } from "react";
import { useQuery } from "urql";
import { Loading, Money, SelectField, TextField, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { IbPayoutStatus } from "../gql/graphql";
import { Pager, QueryError, type Cursor } from "./common";

const PAGE = 10;

const PartnersQuery = graphql(`
  query StaffIbPartners($search: String, $first: Int, $after: String, $last: Int, $before: String) {
    ibPartners(search: $search, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { ibId name email status parentIbId planName payoutHold appliedAt }
    }
  }
`);

const AllPayoutsQuery = graphql(`
  query StaffIbPayouts($status: IbPayoutStatus, $first: Int, $after: String, $last: Int, $before: String) {
    ibPayouts(status: $status, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId ibId currency periodKey amount status createdAt paidAt }
    }
  }
`);

export function Partners() {
  const { t, dateTime } = useI18n();
  const [text, setText] = useState("");
  const [search, setSearch] = useState("");
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }] = useQuery({ query: PartnersQuery, variables: { ...cursor, search: search || null } });
  return (
    <section className="card" aria-labelledby="partners-h">
      <h2 id="partners-h">{t("ib.partners")}</h2>
      <form className="filters" role="search" aria-label={t("ib.partners")} noValidate
        onSubmit={(e) => { e.preventDefault(); setCursor({ first: PAGE }); setSearch(text.trim()); }}>
        <TextField label={t("ib.partnerSearch")} name="partnerSearch" hint={t("ib.partnerSearchHint")} value={text} onChange={(e) => setText(e.target.value)} />
        <button type="submit" className="secondary">{t("ib.partnerFind")}</button>
      </form>
      {fetching && !data ? <Loading /> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.ibPartners.nodes.length === 0 ? <p>{t("ib.noPartners")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ib.partners")}><table data-testid="ib-partners">
            <caption className="sr-only">{t("ib.partners")}</caption>
            <thead><tr><th scope="col">{t("ib.partner")}</th><th scope="col">{t("ib.ibId")}</th><th scope="col">{t("ib.partnerStatus")}</th>
              <th scope="col">{t("ib.parent")}</th><th scope="col">{t("ib.plan")}</th><th scope="col">{t("ib.partnerApplied")}</th></tr></thead>
            <tbody>{data.ibPartners.nodes.map((p) => (
              <tr key={p.ibId}>
                <th scope="row">{p.name || "—"}<br /><span className="muted">{p.email}</span></th>
                <td>{p.ibId}</td>
                <td><span className="status">{t(`ibPartner.${p.status}`)}</span>{p.payoutHold ? <span className="muted"> ({t("ib.payoutsHeld")})</span> : null}</td>
                <td>{p.parentIbId ?? "—"}</td>
                <td>{p.planName ?? "—"}</td>
                <td>{dateTime(p.appliedAt)}</td>
              </tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.ibPartners.pageInfo} size={PAGE} onPage={setCursor} label={t("ib.partners")} />
        </>
      )) : null}
    </section>
  );
}

export function AllPayouts({ runs }: { runs: number }) {
  const { t, dateTime } = useI18n();
  const [status, setStatus] = useState<IbPayoutStatus | "">("");
  const [cursor, setCursor] = useState<Cursor>({ first: PAGE });
  const [{ data, error, fetching }, refetch] = useQuery({ query: AllPayoutsQuery, variables: { ...cursor, status: status || null } });
  useEffect(() => {
    if (runs > 0) refetch({ requestPolicy: "network-only" }); // a payout run on this page made payouts
  }, [runs, refetch]);
  return (
    <section className="card" aria-labelledby="all-payouts-h">
      <h2 id="all-payouts-h">{t("ib.allPayouts")}</h2>
      <form className="filters" noValidate onSubmit={(e) => e.preventDefault()} aria-label={t("ib.allPayouts")}>
        <SelectField label={t("ib.payoutStatus")} name="payoutStatus" value={status}
          onChange={(e) => { setStatus(e.target.value as IbPayoutStatus | ""); setCursor({ first: PAGE }); }}>
          <option value="">{t("pay.any")}</option>
          <option value="HELD">{t("ibPayout.held")}</option>
          <option value="PAID">{t("ibPayout.paid")}</option>
        </SelectField>
      </form>
      {fetching && !data ? <Loading /> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (data.ibPayouts.nodes.length === 0 ? <p>{t("ib.noPayouts")}</p> : (
        <>
          <div className="table-wrap" tabIndex={0} role="region" aria-label={t("ib.allPayouts")}><table data-testid="ib-all-payouts">
            <caption className="sr-only">{t("ib.allPayouts")}</caption>
            <thead><tr><th scope="col">{t("ib.payout#")}</th><th scope="col">{t("ib.ibId")}</th><th scope="col">{t("ib.period")}</th>
              <th scope="col" className="num">{t("payment.amount")}</th><th scope="col">{t("ib.payoutStatus")}</th>
              <th scope="col">{t("pay.created")}</th><th scope="col">{t("ib.paidAt")}</th></tr></thead>
            <tbody>{data.ibPayouts.nodes.map((p) => (
              <tr key={p.id}>
                <th scope="row">{p.databaseId}</th><td>{p.ibId}</td><td>{p.periodKey}</td>
                <td className="num"><Money amount={p.amount} currency={p.currency} /></td>
                <td><span className="status">{t(`ibPayout.${p.status}`)}</span></td>
                <td>{dateTime(p.createdAt)}</td><td>{p.paidAt ? dateTime(p.paidAt) : "—"}</td>
              </tr>
            ))}</tbody>
          </table></div>
          <Pager info={data.ibPayouts.pageInfo} size={PAGE} onPage={setCursor} label={t("ib.allPayouts")} />
        </>
      )) : null}
    </section>
  );
}
