"""Cross-tenant cases for the dealing desk (risk.read / risk.manage_segments staff only).

Each case builds a small world (client, account, deals, a flag, metrics) and removes its flags and
metrics afterwards: the risk suite counts those across the whole database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.risk.desk_world import World, drop_world, make_world
from tests.tenancy.cases import Env, Probe, case


def _probe(env: Env, world: World, query: str, variables: dict[str, Any], secrets: list[str]) -> Probe:
    async def cleanup() -> None:
        await drop_world(env.session_factory, world)

    return Probe(query, variables, secrets, cleanup=cleanup)


@case("Query.riskClientMetrics")
async def risk_client_metrics(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "query($c: ID!) { riskClientMetrics(clientId: $c) { accountIds realisedPnl } }",
                  {"c": str(w.client_id)}, ["290.00"])


@case("Query.riskAccountMetrics")
async def risk_account_metrics(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "query($a: ID!) { riskAccountMetrics(accountId: $a) { realisedPnl } }",
                  {"a": str(w.account_id)}, ["290.00"])


@case("Query.riskSegmentAssignments")
async def risk_segment_assignments(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "query($c: ID!) { riskSegmentAssignments(clientId: $c, currentOnly: false) "
                          "{ nodes { reason } } }", {"c": str(w.client_id)}, ["history"])


@case("Query.riskWhatIf")
async def risk_what_if(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "query($c: [ID!]!, $s: DateTime!) { riskWhatIf(clientIds: $c, book: B, "
                          "aBookPercent: \"0\", since: $s) { lines { symbol } } }",
                  {"c": [str(w.client_id)], "s": (w.t0 - timedelta(hours=2)).isoformat()}, [w.symbol])


@case("Mutation.reviewRiskFlag")
async def review_risk_flag(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "mutation($i: ID!) { reviewRiskFlag(id: $i, decision: DISMISSED, note: \"x\") "
                          "{ flag { evidence } errors { code } } }", {"i": str(w.flag_id)}, ["desk-evidence"])


@case("Mutation.overrideSegment")
async def override_segment(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "mutation($c: ID!) { overrideSegment(clientId: $c, book: A, aBookPercent: \"100\", "
                          "reason: \"x\") { assignments { targetGroup } errors { code } } }",
                  {"c": str(w.client_id)}, ["desk\\\\a"])
