"""Cross-tenant cases for the dealing desk (risk.read / risk.manage_segments staff only).

Each case builds a small world (client, account, deals, a flag, metrics) and removes its flags and
metrics afterwards: the risk suite counts those across the whole database."""

from __future__ import annotations

import uuid
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


# --- risk configuration (risk.manage; broker-wide, so no desk owns it) ----------------------------


async def _second_account(env: Env, w: World) -> int:
    from sqlalchemy import text

    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
            "VALUES (:s, :l, :u, 'desk\\b', 100, 'USD') RETURNING id"),
            {"s": w.server_id, "l": w.login + 1, "u": w.user_id}))  # fmt: skip


@case("Mutation.deleteRiskLimit")
async def delete_risk_limit(env: Env) -> Probe:
    key = f"T{uuid.uuid4().hex[:8].upper()}"
    made = await env.admin("mutation($k: String!) { setRiskLimit(scope: \"symbol\", key: $k, maxNetLots: \"7\") "
                           "{ limit { id } errors { code } } }", {"k": key})
    lid = made["data"]["setRiskLimit"]["limit"]["id"]

    async def cleanup() -> None:
        await env.admin("mutation($i: ID!) { deleteRiskLimit(id: $i) { errors { code } } }", {"i": lid})

    return Probe("mutation($i: ID!) { deleteRiskLimit(id: $i) { limit { key } errors { code } } }", {"i": lid},
                 [key], cleanup=cleanup)


@case("Query.riskGroupBooks")
async def risk_group_books(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "query($s: ID!) { riskGroupBooks(serverId: $s) { group } }", {"s": str(w.server_id)},
                  ["desk\\\\a", "desk\\\\b"])


@case("Mutation.setRiskGroupBook")
async def set_risk_group_book(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "mutation($s: ID!) { setRiskGroupBook(serverId: $s, group: \"desk\\\\x\", book: A) "
                          "{ groupBook { group book } errors { code } } }", {"s": str(w.server_id)}, ["desk\\\\x"])


@case("Mutation.unsetRiskGroupBook")
async def unset_risk_group_book(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    return _probe(env, w, "mutation($s: ID!) { unsetRiskGroupBook(serverId: $s, group: \"desk\\\\a\") "
                          "{ groupBook { group book } errors { code } } }", {"s": str(w.server_id)}, ["desk\\\\a"])


@case("Mutation.deleteRiskCalendarEvent")
async def delete_risk_calendar_event(env: Env) -> Probe:
    title = f"Tenancy release {uuid.uuid4().hex[:8]}"
    csv_text = f"time_utc,currency,impact,title\n2019-01-04T13:30:00Z,USD,low,{title}\n"
    await env.admin("mutation($c: String!) { importRiskCalendar(format: CSV, content: $c) { errors { code } } }",
                    {"c": csv_text})
    events = await env.admin("{ riskCalendarEvents(until: \"2019-01-05T00:00:00Z\", first: 500) "
                             "{ nodes { id title } } }")
    eid = next(e["id"] for e in events["data"]["riskCalendarEvents"]["nodes"] if e["title"] == title)

    async def cleanup() -> None:
        await env.admin("mutation($i: ID!) { deleteRiskCalendarEvent(id: $i) { errors { code } } }", {"i": eid})

    return Probe("mutation($i: ID!) { deleteRiskCalendarEvent(id: $i) { event { title } errors { code } } }",
                 {"i": eid}, [title], cleanup=cleanup)


async def _linked(env: Env) -> tuple[World, int, str]:
    w = await make_world(env.http, env.session_factory)
    other = await _second_account(env, w)
    detail = f"tenancy-link-{uuid.uuid4().hex[:8]}"
    await env.admin("mutation($a: ID!, $b: ID!, $d: String!) { linkRiskAccounts(accountA: $a, accountB: $b, "
                    "kind: SAME_PERSON, detail: $d) { errors { code } } }",
                    {"a": str(w.account_id), "b": str(other), "d": detail})
    return w, other, detail


@case("Mutation.linkRiskAccounts")
async def link_risk_accounts(env: Env) -> Probe:
    w = await make_world(env.http, env.session_factory)
    other = await _second_account(env, w)
    return _probe(env, w, "mutation($a: ID!, $b: ID!) { linkRiskAccounts(accountA: $a, accountB: $b, kind: DECLARED) "
                          "{ link { loginA loginB } errors { code } } }", {"a": str(w.account_id), "b": str(other)},
                  [f"\"{w.login}\""])


@case("Mutation.unlinkRiskAccounts")
async def unlink_risk_accounts(env: Env) -> Probe:
    w, other, detail = await _linked(env)
    return _probe(env, w, "mutation($a: ID!, $b: ID!) { unlinkRiskAccounts(accountA: $a, accountB: $b, "
                          "kind: SAME_PERSON) { link { detail } errors { code } } }",
                  {"a": str(w.account_id), "b": str(other)}, [detail])


@case("Query.riskAccountLinks")
async def risk_account_links(env: Env) -> Probe:
    w, _, detail = await _linked(env)
    return _probe(env, w, "query($a: ID!) { riskAccountLinks(accountId: $a) { nodes { detail } } }",
                  {"a": str(w.account_id)}, [detail])
