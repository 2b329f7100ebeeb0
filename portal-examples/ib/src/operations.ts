// The IB portal's operations (typed by codegen, sent by hash from the build's trusted-document manifest).
import { graphql } from "./gql";

export const TreeQuery = graphql(`
  query IbTree {
    myIbProfile { ibId visibleDepth showsClientPii payoutCycle payoutMin payoutHold }
    myIbTree { visibleDepth depth members(first: 100) { nodes { id ibId parentMemberId depth clients joinedAt contact { name email phone masked } } } }
    myIbClients(first: 100) { nodes { clientId ibId depth status registeredAt lots contact { name email phone masked } deposits { currency amount } } }
  }
`);

export const ClientQuery = graphql(`
  query IbClient($clientId: ID!) {
    myIbClient(clientId: $clientId) { clientId ibId depth status registeredAt lots contact { name email phone masked } deposits { currency amount } }
  }
`);

export const LinksQuery = graphql(`
  query IbLinks {
    myIbManagedLinks(first: 100) { nodes { id code path referralUrl name target clicks registrations firstDeposits createdAt } }
  }
`);

export const CreateLinkMutation = graphql(`
  mutation IbCreateLink($input: CreateMyIbReferralLinkInput!) {
    createMyIbReferralLink(input: $input) { link { id code path referralUrl name } errors { field message code } }
  }
`);

export const CommissionsQuery = graphql(`
  query IbCommissions($since: DateTime!, $until: DateTime!, $first: Int, $after: String, $last: Int, $before: String) {
    myIbCommissions(groupBy: SYMBOL, since: $since, until: $until) { key currency amount lines lots }
    myIbCommissionLines(since: $since, until: $until, first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId dealTime kind source level symbol volume amount currency }
    }
  }
`);

export const LineQuery = graphql(`
  query IbLine($lineId: ID!) {
    myIbCommissionLine(lineId: $lineId) { lineId kind source level currency amount formula dealTime line deal clause }
  }
`);

export const StatementCsvQuery = graphql(`
  query IbStatementCsv($since: DateTime!, $until: DateTime!) { myIbStatementCsv(since: $since, until: $until) }
`);

export const StatementPdfQuery = graphql(`
  query IbStatementPdf($since: DateTime!, $until: DateTime!) { myIbStatementPdf(since: $since, until: $until) }
`);

export const PayoutsQuery = graphql(`
  query IbPayouts {
    myIbPayouts(first: 100) { nodes { id currency periodKey amount status createdAt paidAt } }
  }
`);

export const RequestPayoutMutation = graphql(`
  mutation IbRequestPayout($input: RequestMyIbPayoutInput!) {
    requestMyIbPayout(input: $input) {
      run { periodKey replayed created { id currency amount status } existing { id currency amount status } }
      errors { field message code }
    }
  }
`);

export const DisputesQuery = graphql(`
  query IbDisputes {
    myIbDisputes(first: 100) { nodes { id lineId periodFrom periodTo reason status resolution createdAt resolvedAt } }
  }
`);

export const OpenDisputeMutation = graphql(`
  mutation IbOpenDispute($input: OpenMyIbDisputeInput!) {
    openMyIbDispute(input: $input) { dispute { id status } errors { field message code } }
  }
`);

export const TokensQuery = graphql(`
  query IbTokens { myApiTokens(first: 50) { nodes { id name lastFour scopes expiresAt revoked } } }
`);

export const CreateTokenMutation = graphql(`
  mutation IbCreateToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) { token apiToken { id name lastFour } errors { field message code } }
  }
`);

export const RevokeTokenMutation = graphql(`
  mutation IbRevokeToken($id: ID!) { revokeApiToken(id: $id) { apiToken { id revoked } errors { field message code } } }
`);
