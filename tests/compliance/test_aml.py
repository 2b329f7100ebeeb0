"""Transaction monitoring: rule documents checked node by node (nothing saved when bad), versions with
four-eyes activation, inline decisions on deposits and withdrawals with their explanation, holds that
keep the money (never lose or invent it, also under concurrency), cases, and the test run.

Scenarios are global, so each test's rules only hit its own clients (a custom list of their user ids)
and every scenario a test makes live is taken off again at its end."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.compliance.aml import cases, scenarios
from domain.compliance.aml.rules import compile_document
from domain.ledger.accounts import wallet_for
from domain.ledger.wallets import deposit_to_wallet
from domain.payments import deposits, withdrawals
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.shared.errors import InvalidFields
from tests.clients.staff_world import audit_of, scalar
from tests.identity.staff import make_staff
from tests.ledger.conftest import check_invariants, wallet_balance
from tests.payments.conftest import WIRE, client, finance

CREATE = """mutation($n: String!, $d: JSON!) { createAmlScenario(name: $n, document: $d) {
  scenario { id databaseId name liveVersionId draft { status document } } errors { field code } } }"""
COMMIT = """mutation($s: ID!) { commitAmlDraft(scenarioId: $s) { version { id version status } errors { field code } } }"""
REQUEST = """mutation($s: ID!, $v: Int!) { requestAmlActivation(scenarioId: $s, version: $v, reason: "go live") {
  request { id status } errors { field code } } }"""
APPROVE = """mutation($r: ID!) { approveAmlActivation(requestId: $r) { request { id status decidedById }
  errors { field code } } }"""
DECISIONS = """query($p: ID) { amlDecisions(paymentId: $p, first: 10) { nodes { id databaseId outcome score holdStatus
  caseId explain { rule hit score values } } pageInfo { hasNextPage } } }"""
DECLINE = """mutation($d: ID!) { declineAmlHold(decisionId: $d, reason: "structuring confirmed") {
  decision { holdStatus } errors { field code } } }"""
CASES = """query($u: ID) { amlCases(userId: $u, first: 5) { nodes { id status alertCount team slaBreached
  alerts(first: 5) { nodes { outcome } } } } }"""
TEST_RUN = """mutation($s: ID!, $a: DateTime!, $b: DateTime!, $d: JSON) {
  runAmlTest(scenarioId: $s, since: $a, until: $b, document: $d) {
  run { evaluated draft { allow review block decline } live { review }
        hits { draftOutcome draftRules liveOutcome draftScore amount }
        hitsTruncated } errors { field code } } }"""


def only(list_name: str, *conds: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"in_list": {"field": "user_id"}, "list": list_name}, *conds]}


def document(list_name: str, *, triggers: list[str], rules: list[dict[str, Any]],
             thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"triggers": triggers, "thresholds": thresholds or {"review": 10, "block": 50, "decline": 100},
            "rules": [{**r, "when": only(list_name, r["when"])} for r in rules]}


async def staff_user(session_factory: Any) -> int:
    async with session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO users (email, email_normalized, is_staff, display_name) VALUES (:e, :e, true, 'Officer') "
            "RETURNING id"), {"e": f"{uuid.uuid4().hex[:12]}@broker.example"}))


def officer(uid: int) -> Actor:
    """A compliance officer as the built-in role makes one: back office (kyc.review), so every desk's cases
    (domain/compliance/aml/scope.py)."""
    return Actor(ActorKind.STAFF, user_id=uid, permissions=frozenset(
        {"compliance.manage", "compliance.read", "compliance.review", "kyc.review"}))


@pytest.fixture
async def live(session_factory: Any) -> AsyncIterator[Any]:
    """Make a document live (two independent officers); everything made live is taken off afterwards."""
    made: list[int] = []

    async def go(doc: dict[str, Any], *, team: str = "compliance") -> int:
        a, b = await staff_user(session_factory), await staff_user(session_factory)

        async def work(s: Any) -> int:
            sc, _ = await scenarios.create_scenario(s, officer(a), name=f"t-{uuid.uuid4().hex[:10]}", description="",
                                                    team=team, document=doc)
            await scenarios.commit_draft(s, officer(a), sc.id)
            req = await scenarios.request_activation(s, officer(a), sc.id, 1, "test")
            await scenarios.approve_activation(s, officer(b), req.id)
            return sc.id

        sid = await in_transaction(session_factory, work)
        made.append(sid)
        return sid

    yield go
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE aml_scenarios SET live_version_id = NULL WHERE id = ANY(:i)"), {"i": made})


async def watch(session_factory: Any, *uids: int) -> str:
    name = f"watch_{uuid.uuid4().hex[:10]}"
    admin = await staff_user(session_factory)
    await in_transaction(session_factory, lambda s: scenarios.set_list(s, officer(admin), name, [str(u) for u in uids]))
    return name


async def funded(session_factory: Any, make_user: Any, amount: str = "1000.00") -> int:
    uid = await make_user()
    async with session_factory() as s, s.begin():
        await deposit_to_wallet(s, client(uid), user_id=uid, currency="USD", amount=Decimal(amount),
                                idempotency_key=uuid.uuid4().hex)
    return int(uid)


async def withdraw(session_factory: Any, settings: Any, uid: int, amount: str) -> Any:
    actor = Actor(ActorKind.CLIENT, user_id=uid, stepped_up_at=time.time())

    async def work(s: Any) -> Any:
        return await withdrawals.request_withdrawal(
            s, settings, actor, user_id=uid, method_code=WIRE, currency="USD", amount=Decimal(amount), country=None,
            destination={"iban": "DE89370400440532013000"}, idempotency_key=uuid.uuid4().hex)

    return await in_transaction(session_factory, work)


# --- the rule document ------------------------------------------------------------------------------------


def test_every_bad_node_is_reported_with_its_path() -> None:
    bad = {"triggers": ["deposit", "teleport"], "thresholds": {"review": 50, "block": 10},
           "rules": [{"name": "a", "score": 10, "when": {"cmp": "gt", "left": {"field": "amount"},
                                                         "right": {"const": "USD"}}},
                     {"name": "a", "score": 1.5, "when": {"cmp": "lt", "left": {"agg": "sum", "of": "payer_name",
                                                                                 "window": {"days": 0}},
                                                         "right": {"const": 1}}},
                     {"name": "c", "score": 1, "when": {"any": [{"in_list": {"field": "country"}, "list": "Bad List"},
                                                                {"name_mismatch": {"below": 3}}]}}]}
    with pytest.raises(InvalidFields) as refused:
        compile_document(bad)
    found = {(e.field, e.code) for e in refused.value.errors}
    assert found == {
        ("triggers", "INVALID_RULE_DOCUMENT"), ("thresholds", "INVALID_RULE_DOCUMENT"),
        ("rules[0].when", "INVALID_RULE_DOCUMENT"),  # a number compared with text
        ("rules[1].name", "INVALID_RULE_DOCUMENT"), ("rules[1].score", "INVALID_RULE_DOCUMENT"),
        ("rules[1].when.left.of", "INVALID_RULE_DOCUMENT"), ("rules[1].when.left.window.days", "INVALID_RULE_DOCUMENT"),
        ("rules[2].when.any[0].list", "INVALID_RULE_DOCUMENT"),
        ("rules[2].when.any[1].name_mismatch.below", "INVALID_RULE_DOCUMENT")}


def test_aggregates_are_shared_and_scores_add_up() -> None:
    agg = {"agg": "count", "window": {"days": 7}, "where": {"direction": "deposit", "amount_gte": 9000}}
    program = compile_document({"triggers": ["deposit"], "thresholds": {"review": 20, "block": 40},
                                "rules": [{"name": "a", "score": 15, "when": {"cmp": "gte", "left": agg,
                                                                              "right": {"const": 2}}},
                                          {"name": "b", "score": 30, "when": {"cmp": "gte", "left": agg,
                                                                              "right": {"const": 3}}},
                                          {"name": "round", "score": 5,
                                           "when": {"round_amount": {"field": "amount"}, "multiple": 1000}}]})
    assert len(program.aggs) == 1  # one FILTER column for both rules
    assert program.outcome(Decimal(19)) == "allow" and program.outcome(Decimal(20)) == "review"
    assert program.outcome(Decimal(45)) == "block"


# --- through the API --------------------------------------------------------------------------------------


async def test_scenario_lifecycle_over_graphql_with_four_eyes(http: Any, session_factory: Any, settings: Any) -> None:
    author = await make_staff(http, session_factory, settings, ["compliance"])
    second = await make_staff(http, session_factory, settings, ["compliance"])
    name = f"structuring-{uuid.uuid4().hex[:8]}"
    bad = {"triggers": ["deposit"], "thresholds": {"review": 10}, "rules": [
        {"name": "x", "score": 10, "when": {"cmp": "gt", "left": {"field": "nope"}, "right": {"const": 1}}}]}
    refused = (await author.client(CREATE, {"n": name, "d": bad}))["data"]["createAmlScenario"]
    assert refused == {"scenario": None, "errors": [{"field": "rules[0].when.left.field",
                                                     "code": "INVALID_RULE_DOCUMENT"}]}
    assert await scalar(session_factory, "SELECT count(*) FROM aml_scenarios WHERE name = :n", n=name) == 0

    good = document("nobody_listed", triggers=["deposit"], rules=[
        {"name": "big", "score": 20, "when": {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 5000}}}])
    made = (await author.client(CREATE, {"n": name, "d": good}))["data"]["createAmlScenario"]
    assert made["errors"] == [] and made["scenario"]["draft"]["status"] == "draft"
    sid = made["scenario"]["id"]
    again = (await author.client(CREATE, {"n": name, "d": good}))["data"]["createAmlScenario"]
    assert again["errors"] == [{"field": "name", "code": "SCENARIO_NAME_TAKEN"}]
    committed = (await author.client(COMMIT, {"s": sid}))["data"]["commitAmlDraft"]
    assert committed["version"]["version"] == 1 and committed["version"]["status"] == "committed"
    assert (await author.client(COMMIT, {"s": sid}))["data"]["commitAmlDraft"]["errors"] == [
        {"field": "scenarioId", "code": "NO_DRAFT"}]
    version_id = await scalar(session_factory, "SELECT id FROM aml_scenario_versions WHERE version = 1 AND "
                                               "scenario_id = (SELECT id FROM aml_scenarios WHERE name = :n)", n=name)
    with pytest.raises(DBAPIError):  # committed versions never change
        async with session_factory() as s, s.begin():
            await s.execute(text("UPDATE aml_scenario_versions SET document = '{}' WHERE id = :i"), {"i": version_id})

    request = (await author.client(REQUEST, {"s": sid, "v": 1}))["data"]["requestAmlActivation"]
    assert request["errors"] == [] and request["request"]["status"] == "PENDING"
    rid = request["request"]["id"]
    assert (await author.client(REQUEST, {"s": sid, "v": 1}))["data"]["requestAmlActivation"]["errors"] == [
        {"field": "scenarioId", "code": "ACTIVATION_ALREADY_PENDING"}]
    self_approved = (await author.client(APPROVE, {"r": rid}))["data"]["approveAmlActivation"]
    assert self_approved == {"request": None, "errors": [{"field": "requestId", "code": "SELF_APPROVAL_FORBIDDEN"}]}
    assert await scalar(session_factory, "SELECT live_version_id FROM aml_scenarios WHERE name = :n", n=name) is None
    try:
        approved = (await second.client(APPROVE, {"r": rid}))["data"]["approveAmlActivation"]
        assert approved["errors"] == [] and approved["request"]["status"] == "APPROVED"
        assert await scalar(session_factory, "SELECT live_version_id FROM aml_scenarios WHERE name = :n",
                            n=name) == version_id
        sid_key = await scalar(session_factory, "SELECT id FROM aml_scenarios WHERE name = :n", n=name)
        actions = [e["action"] for e in await audit_of(session_factory, "aml_scenario", sid_key)]
        assert actions == ["aml.scenario_created", "aml.version_committed", "aml.version_activated"]
        assert (await second.client(APPROVE, {"r": rid}))["data"]["approveAmlActivation"]["errors"] == [
            {"field": "requestId", "code": "ACTIVATION_NOT_PENDING"}]
    finally:
        async with session_factory() as s, s.begin():
            await s.execute(text("UPDATE aml_scenarios SET live_version_id = NULL WHERE name = :n"), {"n": name})

    support = (await make_staff(http, session_factory, settings, ["support"])).client
    forbidden = await support(CREATE, {"n": "x", "d": good})
    assert forbidden["data"] is None and forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- inline decisions and holds ---------------------------------------------------------------------------


async def test_blocked_withdrawal_stays_held_cannot_be_approved_and_declining_returns_the_money(
        configured: Any, http: Any, session_factory: Any, settings: Any, make_user: Any, live: Any) -> None:
    uid = await funded(session_factory, make_user)
    listed = await watch(session_factory, uid)
    await live(document(listed, triggers=["withdrawal"], rules=[
        {"name": "large", "score": 60, "when": {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 300}}},
        {"name": "round", "score": 5, "when": {"round_amount": {"field": "amount"}, "multiple": 100}}]))
    wallet = await wallet_for_user(session_factory, uid)
    small = await withdraw(session_factory, settings, uid, "120.50")  # below every rule: allowed
    held = await withdraw(session_factory, settings, uid, "400.00")
    assert await wallet_balance(session_factory, wallet) == (Decimal("1000.00"), Decimal("520.50"))

    officer_login = await make_staff(http, session_factory, settings, ["compliance"])
    from strawberry.relay import to_base64
    found = (await officer_login.client(DECISIONS, {"p": to_base64("Payment", held.id)}))["data"]["amlDecisions"]
    [decision] = found["nodes"]
    assert (decision["outcome"], decision["score"], decision["holdStatus"]) == ("BLOCK", "65", "held")
    assert [(e["rule"], e["hit"], e["score"]) for e in decision["explain"]] == [("large", True, "60"),
                                                                                 ("round", True, "5")]
    assert decision["explain"][0]["values"]["rules[0].when.all[1].left"] == "400"
    small_decision = (await officer_login.client(DECISIONS, {"p": to_base64("Payment", small.id)}))["data"]
    assert [n["outcome"] for n in small_decision["amlDecisions"]["nodes"]] == ["ALLOW"]

    approver = await make_user(staff=True)
    with pytest.raises(Exception) as refused:
        await in_transaction(session_factory, lambda s: withdrawals.approve(s, finance(approver), held.id))
    assert getattr(refused.value, "code", None) == "AML_HOLD"
    assert await scalar(session_factory, "SELECT approval FROM payments WHERE id = :i", i=held.id) == "awaiting"

    cases_seen = (await officer_login.client(CASES, {"u": str(uid)}))["data"]["amlCases"]["nodes"]
    assert [(c["status"], c["alertCount"]) for c in cases_seen] == [("OPEN", 1)]
    declined = (await officer_login.client(DECLINE, {"d": decision["id"]}))["data"]["declineAmlHold"]
    assert declined == {"decision": {"holdStatus": "declined"}, "errors": []}
    assert await scalar(session_factory, "SELECT status FROM payments WHERE id = :i", i=held.id) == "cancelled"
    assert await wallet_balance(session_factory, wallet) == (Decimal("1000.00"), Decimal("120.50"))
    again = (await officer_login.client(DECLINE, {"d": decision["id"]}))["data"]["declineAmlHold"]
    assert again == {"decision": None, "errors": [{"field": "decisionId", "code": "DECISION_NOT_HELD"}]}
    await check_invariants(session_factory)


async def wallet_for_user(session_factory: Any, uid: int) -> int:
    async with session_factory() as s:
        return (await wallet_for(s, uid, "USD")).id


async def test_declined_withdrawal_is_cancelled_at_once_and_concurrent_requests_lose_nothing(
        configured: Any, session_factory: Any, settings: Any, make_user: Any, live: Any) -> None:
    uid = await funded(session_factory, make_user, "2000.00")
    listed = await watch(session_factory, uid)
    await live(document(listed, triggers=["withdrawal"], rules=[
        {"name": "huge", "score": 100, "when": {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 500}}},
        {"name": "mid", "score": 50, "when": {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 200}}}],
        thresholds={"review": 10, "block": 50, "decline": 150}))
    wallet = await wallet_for_user(session_factory, uid)
    amounts = ["100.00", "250.00", "600.00", "90.00", "300.00", "700.00"]
    results = await asyncio.gather(*(withdraw(session_factory, settings, uid, a) for a in amounts),
                                   return_exceptions=True)
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == len(amounts), results
    status = {Decimal(p.amount): await scalar(session_factory, "SELECT status FROM payments WHERE id = :i", i=p.id)
              for p in made}
    cancelled = {a for a, st in status.items() if st == "cancelled"}
    assert cancelled == {Decimal("600.00"), Decimal("700.00")}  # 150 points: declined at once
    balance, held = await wallet_balance(session_factory, wallet)
    assert balance == Decimal("2000.00")  # nothing left, nothing invented
    assert held == sum((Decimal(a) for a in amounts if Decimal(a) not in cancelled), Decimal(0))
    holds = await scalar(session_factory, "SELECT count(*) FROM aml_decisions d JOIN payments p ON p.id = d.payment_id "
                                          "WHERE p.user_id = :u AND d.hold_status = 'held'", u=uid)
    assert holds == 2  # 250 and 300 wait for review
    await check_invariants(session_factory)


async def test_deposit_from_a_third_party_opens_a_case_and_the_test_run_shows_it(
        configured: Any, http: Any, session_factory: Any, settings: Any, make_user: Any, live: Any) -> None:
    uid = await make_user(name="Maria Gonzalez")
    listed = await watch(session_factory, uid)
    doc = document(listed, triggers=["deposit"], rules=[
        {"name": "third_party", "score": 60, "when": {"name_mismatch": {"below": "0.7"}}}])
    start = datetime.now(UTC) - timedelta(seconds=5)
    sid = await live(doc)
    wallet = None
    for payer in ("Maria Gonzales", "Ivan Petrov"):
        payment = await deposits.create_deposit(session_factory, settings, client(uid), user_id=uid,
                                                method_code=WIRE, currency="USD", amount=Decimal("150.00"),
                                                country=None, return_url="")

        async def credit(s: Any, p: Any = payment, name: str = payer) -> Any:
            return await deposits.credit(s, system_actor("test"), p, payer_name=name)

        await in_transaction(session_factory, credit)
        wallet = await wallet_for_user(session_factory, uid)
    assert wallet is not None
    # The third party's 150 is held until released; the client's own is not.
    assert await wallet_balance(session_factory, wallet) == (Decimal("300.00"), Decimal("150.00"))
    outcomes = await scalar(session_factory, "SELECT array_agg(outcome ORDER BY id) FROM aml_decisions "
                                             "WHERE user_id = :u", u=uid)
    assert outcomes == ["allow", "block"]
    decision = await scalar(session_factory, "SELECT id FROM aml_decisions WHERE user_id = :u AND outcome = 'block'",
                            u=uid)
    admin = await staff_user(session_factory)
    case_id = await scalar(session_factory, "SELECT case_id FROM aml_decisions WHERE id = :i", i=decision)
    with pytest.raises(Exception) as early:  # its held deposit is decided first
        await in_transaction(session_factory, lambda s: cases.close(s, officer(admin), case_id, "false_positive", "x"))
    assert getattr(early.value, "code", None) == "DECISION_NOT_HELD"
    await in_transaction(session_factory, lambda s: cases.release(s, officer(admin), decision, "known relative"))
    assert await wallet_balance(session_factory, wallet) == (Decimal("300.00"), Decimal("0"))
    closed = await in_transaction(session_factory, lambda s: cases.close(s, officer(admin), case_id, "false_positive",
                                                                         "the payer is the client's sister"))
    assert (closed.status, closed.outcome, closed.alert_count) == ("closed", "false_positive", 1)

    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    from strawberry.relay import to_base64
    stricter = document(listed, triggers=["deposit"], rules=[
        {"name": "third_party", "score": 60, "when": {"name_mismatch": {"below": "0.99"}}}])
    ran = (await compliance.client(TEST_RUN, {"s": to_base64("AmlScenario", sid), "a": start.isoformat(),
                                              "b": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
                                              "d": stricter}))["data"]["runAmlTest"]
    assert ran["errors"] == []
    run = ran["run"]
    assert run["draft"]["block"] == 2 and run["live"]["review"] == 0
    assert [(h["draftOutcome"], h["liveOutcome"]) for h in run["hits"]] == [("BLOCK", "ALLOW"), ("BLOCK", "BLOCK")]
    # Plain decimals, never in exponent form (a score of 60 once read "6E+1").
    assert [h["draftScore"] for h in run["hits"]] == ["60", "60"]
    assert all(re.fullmatch(r"\d+(\.\d+)?", h["amount"]) for h in run["hits"]), run["hits"]
    bad = (await compliance.client(TEST_RUN, {"s": to_base64("AmlScenario", sid), "a": start.isoformat(),
                                              "b": start.isoformat(), "d": stricter}))["data"]["runAmlTest"]
    assert bad == {"run": None, "errors": [{"field": "until", "code": "VALIDATION_FAILED"}]}
