// Who a staff id is, as the back office can tell: "you", the staff member's name where the viewer may
// read staff (staff.manage, through `nodes`), else the staff member's number.
import { useQuery } from "urql";
import { useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import { databaseIdOf } from "./common";

const StaffNamesQuery = graphql(`
  query StaffWhoNames($ids: [ID!]!) {
    nodes(ids: $ids) { ... on StaffUser { id displayName email } }
  }
`);

export function useWho(ids: Array<string | null | undefined>): (staffId: string | null | undefined) => string {
  const { t } = useI18n();
  const { viewer } = useSession();
  const unique = [...new Set(ids.filter((id): id is string => !!id && (!viewer || databaseIdOf(id) !== viewer.id)))].sort();
  const [{ data }] = useQuery({ query: StaffNamesQuery, variables: { ids: unique }, pause: unique.length === 0 });
  const names: Record<string, string> = {};
  for (const node of data?.nodes ?? []) if (node && "email" in node) names[node.id] = node.displayName || node.email;
  return (staffId) => {
    if (!staffId) return t("aml.nobody");
    const id = databaseIdOf(staffId);
    if (viewer && id === viewer.id) return t("aml.you");
    return names[staffId] ?? t("aml.staffNo", { id });
  };
}
