"""Cross-tenant cases for the dealing desk (risk.read / risk.manage_segments staff only)."""

from __future__ import annotations

from datetime import timedelta

from tests.risk.desk_world import make_world
from tests.tenancy.cases import Env, Probe, case


@case("Query.riskClientMetrics")
async def risk_client_metrics(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return Probe("query($c: ID!) { riskClientMetrics(clientId: $c) { accountIds realisedPnl } }",
                 {"c": str(w.client_id)}, ["290.00"])


@case("Query.riskAccountMetrics")
async def risk_account_metrics(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return Probe("query($a: ID!) { riskAccountMetrics(accountId: $a) { realisedPnl } }", {"a": str(w.account_id)},
                 ["290.00"])


@case("Query.riskSegmentAssignments")
async def risk_segment_assignments(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return Probe("query($c: ID!) { riskSegmentAssignments(clientId: $c, currentOnly: false) { nodes { reason } } }",
                 {"c": str(w.client_id)}, ["history"])


@case("Query.riskWhatIf")
async def risk_what_if(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return Probe("query($c: [ID!]!, $s: DateTime!) { riskWhatIf(clientIds: $c, book: B, aBookPercent: \"0\", "
                 "since: $s) { lines { symbol } } }", {"c": [str(w.client_id)], "s": (w.t0 - timedelta(hours=2))
                                                      .isoformat()}, [w.symbol])


@case("Mutation.reviewRiskFlag")
async def review_risk_flag(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return Probe("mutation($i: ID!) { reviewRiskFlag(id: $i, decision: DISMISSED, note: \"x\") { flag { evidence } "
                 "errors { code } } }", {"i": str(w.flag_id)}, ["desk-evidence"])


@case("Mutation.overrideSegment")
async def override_segment(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return Probe("mutation($c: ID!) { overrideSegment(clientId: $c, book: A, aBookPercent: \"100\", reason: \"x\") {"
                 " assignments { targetGroup } errors { code } } }", {"c": str(w.client_id)}, ["desk\\\\a"])
