// The CFD risk warning a regulator expects on every page (ESMA's wording), with the firm's own
// retail-client loss percentage from the API (`retailLossPercentage`, public, the latest quarter
// computed). Before any quarter is computed, or when no retail account traded, the warning is shown
// without a figure: never a made-up one.
import { useQuery } from "urql";
import { useI18n } from "@forexcrm/portal-shared";
import { graphql } from "./gql";

const RetailLossQuery = graphql(`
  query ClientRetailLoss { retailLossPercentage { quarterStart lossPercentage } }
`);

export function RiskWarning() {
  const { t, number } = useI18n();
  const [{ data }] = useQuery({ query: RetailLossQuery });
  const pct = data?.retailLossPercentage?.lossPercentage;
  return (
    <footer className="risk-warning" aria-label={t("risk.label")}>
      <p data-testid="risk-warning">
        <strong>{t("risk.label")}:</strong> {t("risk.complex")}{" "}
        {pct != null ? <span data-testid="retail-loss">{t("risk.lose", { pct: number(pct) })}</span> : null}{" "}
        {t("risk.consider")}
      </p>
    </footer>
  );
}
