// Audit: verify every audit chain against the signed daily seals (needs audit.read), and the roles
// with their permissions (needs staff.manage; refused plainly to anyone else).
import { useState } from "react";
import { useClient, useQuery } from "urql";
import { Loading, Notice, PageTitle, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { StaffAuditVerifyQuery } from "../gql/graphql";
import { QueryError } from "./common";

const AuditVerifyQuery = graphql(`
  query StaffAuditVerify {
    auditVerify { ok rowsChecked partitionsChecked sealsChecked problems { kind detail partition seq day } }
  }
`);

const RolesQuery = graphql(`
  query StaffRoles {
    roles { id name description builtin permissions }
  }
`);

export function Audit() {
  const { t, number } = useI18n();
  const client = useClient();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<StaffAuditVerifyQuery["auditVerify"] | null>(null);
  const [problem, setProblem] = useState<Parameters<typeof QueryError>[0]["error"]>(undefined);
  const verify = async () => {
    setBusy(true);
    const answer = await client.query(AuditVerifyQuery, {}, { requestPolicy: "network-only" }).toPromise();
    setBusy(false);
    setProblem(answer.error);
    setResult(answer.data?.auditVerify ?? null);
  };
  return (
    <>
      <PageTitle>{t("audit.title")}</PageTitle>
      <section className="card" aria-labelledby="verify-h">
        <h2 id="verify-h">{t("audit.verify")}</h2>
        <p>{t("audit.verifyExplain")}</p>
        <button type="button" onClick={() => void verify()} disabled={busy}>{t("audit.run")}</button>
        {busy ? <Loading /> : null}
        <QueryError error={problem} />
        {result ? (
          <div data-testid="audit-result">
            <Notice tone={result.ok ? "success" : "error"}>
              {result.ok ? t("audit.ok") : t("audit.broken")}{" "}
              {t("audit.counts", { rows: number(String(result.rowsChecked)), partitions: String(result.partitionsChecked), seals: String(result.sealsChecked) })}
            </Notice>
            {result.problems.length > 0 ? (
              <ul>{result.problems.map((p, i) => <li key={i}>{p.kind}: {p.detail}{p.day ? ` (${p.day})` : ""}</li>)}</ul>
            ) : null}
          </div>
        ) : null}
      </section>
      <Roles />
    </>
  );
}

function Roles() {
  const { t } = useI18n();
  const [{ data, error, fetching }] = useQuery({ query: RolesQuery });
  return (
    <section className="card" aria-labelledby="roles-h">
      <h2 id="roles-h">{t("roles.title")}</h2>
      {fetching && !data ? <Loading /> : null}
      {error && !data ? <QueryError error={error} /> : null}
      {data ? (
        <div className="table-wrap" tabIndex={0} role="region" aria-label={t("roles.title")}>
          <table>
            <caption className="sr-only">{t("roles.title")}</caption>
            <thead><tr><th scope="col">{t("roles.name")}</th><th scope="col">{t("roles.permissions")}</th></tr></thead>
            <tbody>{data.roles.map((r) => (
              <tr key={r.id}>
                <th scope="row">{r.name}{r.builtin ? <span className="muted"> ({t("roles.builtin")})</span> : null}<br /><span className="muted">{r.description}</span></th>
                <td>{r.permissions.join(", ")}</td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
