"""Cross-tenant cases for the IB portal (own downline only) and staff IB management fields."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from domain.ib import network
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import utcnow
from tests.tenancy.cases import Env, Probe, case

STAFF = Actor(ActorKind.STAFF, permissions=frozenset({"ib.manage_network"}))


async def _ib_with_client(env: Env) -> tuple[int, str]:
    """The owner becomes an approved IB with one referred client; returns (client id, client email)."""
    email = f"ib-client-{uuid.uuid4().hex[:10]}@example.com"
    async with env.session_factory() as s, s.begin():
        await network.apply(s, STAFF, env.owner_id)
        await network.approve(s, STAFF, env.owner_id)
        client = int(await s.scalar(text(
            "INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) RETURNING id"), {"e": email}))
        await s.execute(text("INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from) "
                             "VALUES (:c, :ib, 'registration', now())"), {"c": client, "ib": env.owner_id})
    return client, email


@case("Query.myIbClient")
async def my_ib_client(env: Env) -> Probe:
    client, email = await _ib_with_client(env)
    return Probe("query($c: ID!) { myIbClient(clientId: $c) { clientId contact { email } } }", {"c": str(client)},
                 [email, email.split("@")[0]])


@case("Query.myIbCommissions")
async def my_ib_commissions(env: Env) -> Probe:
    client, _ = await _ib_with_client(env)
    return Probe("query($c: ID!) { myIbCommissions(groupBy: CLIENT, clientId: $c) { key amount } }",
                 {"c": str(client)})


@case("Query.ibPerformance")
async def ib_performance(env: Env) -> Probe:
    await _ib_with_client(env)
    return Probe("query($i: ID!) { ibPerformance(ibId: $i) { clients lots } }", {"i": str(env.owner_id)})


@case("Mutation.updateIbSettings")
async def update_ib_settings(env: Env) -> Probe:
    await _ib_with_client(env)
    return Probe("mutation($i: ID!) { updateIbSettings(input: {ibId: $i, showClientPii: true}) { ok errors { code } } }",
                 {"i": str(env.owner_id)})


@case("Mutation.approveIb")
async def approve_ib(env: Env) -> Probe:
    async with env.session_factory() as s, s.begin():
        await network.apply(s, STAFF, env.owner_id)
    return Probe("mutation($i: ID!) { approveIb(input: {ibId: $i}) { ok errors { code } } }", {"i": str(env.owner_id)})


@case("Mutation.moveIb")
async def move_ib(env: Env) -> Probe:
    await _ib_with_client(env)
    when = (utcnow() + timedelta(days=1)).isoformat()
    return Probe("mutation($i: ID!, $t: DateTime!) { moveIb(input: {ibId: $i, newParentId: null, effectiveFrom: $t, "
                 "reason: \"probe\"}) { ok errors { code } } }", {"i": str(env.owner_id), "t": when})


@case("Mutation.reassignIbClient")
async def reassign_ib_client(env: Env) -> Probe:
    client, email = await _ib_with_client(env)
    when = (utcnow() + timedelta(days=1)).isoformat()
    return Probe("mutation($c: ID!, $i: ID!, $t: DateTime!) { reassignIbClient(input: {clientId: $c, ibId: $i, "
                 "effectiveFrom: $t, reason: \"probe\"}) { ok errors { code } } }",
                 {"c": str(client), "i": str(env.owner_id), "t": when}, [email])


@case("Mutation.assignIbPlan", "Mutation.addIbPlanVersion")
async def plan_changes(env: Env) -> Probe:
    await _ib_with_client(env)
    made = await env.admin("mutation($n: String!) { createIbPlan(input: {name: $n, currency: \"USD\"}) { id } }",
                           {"n": f"tenancy-{uuid.uuid4().hex[:8]}"})
    plan = made["data"]["createIbPlan"]["id"]
    when = (utcnow() + timedelta(days=1)).isoformat()
    return Probe("mutation($i: ID!, $p: ID!, $t: DateTime!) { assignIbPlan(input: {ibId: $i, planId: $p, "
                 "effectiveFrom: $t}) { ok errors { code } } }", {"i": str(env.owner_id), "p": plan, "t": when})


@case("Mutation.approveIbPayout")
async def approve_ib_payout(env: Env) -> Probe:
    await _ib_with_client(env)
    async with env.session_factory() as s, s.begin():
        payout = int(await s.scalar(text(
            "INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status) "
            "VALUES (:ib, 'USD', 'tenancy', 12.34, 'held') RETURNING id"), {"ib": env.owner_id}))
    return Probe("mutation($p: ID!) { approveIbPayout(input: {payoutId: $p}) { payouts { amount } errors { code } } }",
                 {"p": str(payout)}, ["12.34"])


async def _owner_line(env: Env) -> int:
    """A commission line of the owner (an approved IB) worth 43.21."""
    client, _ = await _ib_with_client(env)
    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO ib_commission_lines (kind, source, deal_time, client_id, ib_id, level, direct_ib_id, plan_id, "
            "plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate, amount, currency) "
            "VALUES ('accrual', 'manual', now(), :c, :ib, 0, :ib, 0, 0, 1, 'per_lot', 'tenancy-formula', '{}', 1, 1, "
            "1, 43.21, 'USD') RETURNING id"), {"c": client, "ib": env.owner_id}))


@case("Mutation.openMyIbDispute")
async def open_my_ib_dispute(env: Env) -> Probe:
    line = await _owner_line(env)
    return Probe("mutation($l: ID!) { openMyIbDispute(input: {lineId: $l, reason: \"probe\"}) { "
                 "dispute { explanation } errors { code } } }", {"l": str(line)}, ["43.21", "tenancy-formula"])


@case("Mutation.openIbDispute")
async def open_ib_dispute(env: Env) -> Probe:
    line = await _owner_line(env)
    return Probe("mutation($i: ID!, $l: ID!) { openIbDispute(input: {ibId: $i, lineId: $l, reason: \"probe\"}) { "
                 "dispute { explanation } errors { code } } }", {"i": str(env.owner_id), "l": str(line)},
                 ["43.21", "tenancy-formula"])


async def _owner_dispute(env: Env) -> int:
    from domain.ib import disputes

    line = await _owner_line(env)
    async with env.session_factory() as s, s.begin():
        return (await disputes.open_dispute(s, STAFF, env.owner_id, reason="secret-dispute-reason", line_id=line)).id


@case("Query.ibDisputes")
async def ib_disputes(env: Env) -> Probe:
    await _owner_dispute(env)
    return Probe("query($i: ID!) { ibDisputes(ibId: $i) { nodes { reason explanation } } }", {"i": str(env.owner_id)},
                 ["secret-dispute-reason", "43.21"])


@case("Mutation.resolveIbDispute")
async def resolve_ib_dispute(env: Env) -> Probe:
    dispute = await _owner_dispute(env)
    return Probe("mutation($d: ID!) { resolveIbDispute(input: {disputeId: $d, accept: true, adjustment: \"1.00\", "
                 "reason: \"probe\"}) { dispute { reason explanation } errors { code } } }", {"d": str(dispute)},
                 ["secret-dispute-reason", "43.21"])


@case("Mutation.clawbackIbCpa")
async def clawback_ib_cpa(env: Env) -> Probe:
    client, email = await _ib_with_client(env)
    return Probe("mutation($c: ID!) { clawbackIbCpa(input: {clientId: $c, reason: \"probe\"}) { ok errors { code } } }",
                 {"c": str(client)}, [email])


@case("Query.myIbCommissionLine", "Query.ibCommissionLine")
async def explain_line(env: Env) -> Probe:
    line = await _owner_line(env)
    return Probe("query($l: ID!) { myIbCommissionLine(lineId: $l) { amount formula } "
                 "ibCommissionLine(lineId: $l) { amount formula } }", {"l": str(line)}, ["43.21", "tenancy-formula"])


async def _owner_held_payout(env: Env) -> None:
    await _ib_with_client(env)
    async with env.session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status) "
                             "VALUES (:ib, 'USD', '2024-01', 12.34, 'held')"), {"ib": env.owner_id})


@case("Query.ibPayoutPreview")
async def payout_preview(env: Env) -> Probe:
    await _owner_held_payout(env)
    return Probe("query($i: ID!) { ibPayoutPreview(period: \"2024-01\", ibId: $i) { amount heldBefore "
                 "existingPayout { amount } } }", {"i": str(env.owner_id)}, ["12.34"])


@case("Mutation.runIbPayouts")
async def payout_run(env: Env) -> Probe:
    await _owner_held_payout(env)
    return Probe("mutation($i: ID!) { runIbPayouts(input: {period: \"2024-01\", ibId: $i, idempotencyKey: \"t\"}) {"
                 " run { existing { amount } } errors { code } } }", {"i": str(env.owner_id)}, ["12.34"])


async def _owner_application(env: Env) -> str:
    made = await env.owner("mutation { applyForIb(input: {channels: [WEBSITE], expectedClients: 3, "
                           "message: \"secret-pitch\"}) { application { id } errors { code } } }")
    return str(made["data"]["applyForIb"]["application"]["id"])


@case("Mutation.approveIbApplication", "Mutation.rejectIbApplication")
async def decide_application(env: Env) -> Probe:
    app = await _owner_application(env)
    return Probe("mutation($a: ID!) { approveIbApplication(input: {applicationId: $a}) { application { message } "
                 "errors { code } } rejectIbApplication(input: {applicationId: $a, reason: \"probe\"}) { "
                 "application { message } errors { code } } }", {"a": app}, ["secret-pitch"])


@case("Mutation.renameMyIbReferralLink", "Mutation.disableMyIbReferralLink")
async def manage_link(env: Env) -> Probe:
    from domain.ib import links

    await _ib_with_client(env)
    async with env.session_factory() as s, s.begin():
        link = await links.create(s, STAFF, env.owner_id, links.LinkSpec("secret-link-name"))
    return Probe("mutation($l: ID!) { renameMyIbReferralLink(input: {linkId: $l, name: \"x\"}) { link { code } "
                 "errors { code } } disableMyIbReferralLink(input: {linkId: $l}) { link { code name } "
                 "errors { code } } }", {"l": str(link.id)}, [link.code, "secret-link-name"])


@case("Query.ibPayouts")
async def ib_payouts(env: Env) -> Probe:
    await _owner_held_payout(env)
    return Probe("query($i: ID!) { ibPayouts(ibId: $i) { nodes { amount periodKey } } }", {"i": str(env.owner_id)},
                 ["12.34"])
