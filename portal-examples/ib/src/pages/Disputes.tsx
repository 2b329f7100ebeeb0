// Disputes: open one on a commission line (its id shown on the commissions page, whose "Dispute" link fills it
// in here) or a period; see status.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { useSearchParams } from "react-router-dom";
import { ErrorMessage, FormAlert, Loading, PageTitle, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { DisputesQuery, OpenDisputeMutation } from "../operations";
import { statusLabel } from "../period";

export function DisputesPage() {
  const { t, dateTime } = useI18n();
  const [{ data, fetching, error }, refetch] = useQuery({ query: DisputesQuery });
  const [, open] = useMutation(OpenDisputeMutation);
  const [params] = useSearchParams();
  const [lineId, setLineId] = useState(params.get("lineId") ?? "");
  const [reason, setReason] = useState("");
  const errors = useFormErrors(["lineId", "reason"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const res = await open({ input: { reason, lineId: lineId.trim() || null } });
    const found = errorsOf(res.data?.openMyIbDispute, res.error);
    errors.set(found);
    if (found.length === 0) {
      setReason("");
      setLineId("");
      refetch({ requestPolicy: "network-only" });
    }
  };
  return (
    <>
      <PageTitle>{t("disputes.title")}</PageTitle>
      <form onSubmit={submit} noValidate aria-label={t("disputes.open")}>
        <FormAlert errors={errors} />
        <TextField label={t("disputes.lineId")} name="lineId" value={lineId} onChange={(e) => setLineId(e.target.value)} errors={errors} />
        <TextField label={t("disputes.reason")} name="reason" required value={reason} onChange={(e) => setReason(e.target.value)} errors={errors} />
        <button type="submit">{t("disputes.open")}</button>
      </form>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      {data ? (
        <div className="table-wrap"><table>
          <thead><tr><th scope="col">{t("disputes.opened")}</th><th scope="col">{t("disputes.lineId")}</th><th scope="col">{t("disputes.reason")}</th><th scope="col">{t("money.status")}</th><th scope="col">{t("disputes.resolution")}</th></tr></thead>
          <tbody>{data.myIbDisputes.nodes.map((d) => (
            <tr key={d.id}><th scope="row">{dateTime(d.createdAt)}</th><td>{d.lineId ?? "—"}</td><td>{d.reason}</td><td><span className="status">{statusLabel(t, d.status)}</span></td><td>{d.resolution ?? "—"}</td></tr>
          ))}</tbody>
        </table></div>
      ) : null}
    </>
  );
}
