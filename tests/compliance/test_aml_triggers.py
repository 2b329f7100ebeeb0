"""Transaction monitoring on events beyond payments: a transfer to a trading account held for review
(released: it reaches the account; declined: the money is the wallet's again; nothing lost either
way), wallet-to-wallet transfers and exchanges, profile changes, a sign-in from a new country over
the API, the schedule over every active client, and rule documents with the new nodes refused
node by node. Trade batches through the real worker: tests/compliance/test_aml_worker_seam.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.compliance.aml import events
from domain.identity.sessions import create_user
from domain.ledger import wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.ledger.transfers import register_platform, unregister_platform
from domain.platforms.port import NewAccount
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.servers import ServerConfig, upsert_server
from jobs import aml as aml_jobs
from schema.context import Context
from schema.root import build_schema
from tests.compliance.test_aml import CREATE, TEST_RUN, document, live, officer, staff_user, watch  # noqa: F401
from tests.conftest import GraphQLClient
from tests.identity.helpers import PASSWORD
from tests.ledger.conftest import check_invariants, wallet_balance
from tests.platforms.conftest import SimServer, sim  # noqa: F401

TO = """mutation($i: TransferToTradingAccountInput!) { transferToTradingAccount(input: $i) {
  transfer { databaseId status amount } errors { code field } } }"""
DECISIONS = """query($u: ID) { amlDecisions(userId: $u, first: 20) { nodes { id trigger subject outcome holdStatus
  event explain { rule hit } } } }"""
RELEASE = """mutation($d: ID!) { releaseAmlHold(decisionId: $d, reason: "source of funds documented") {
  decision { holdStatus } errors { field code } } }"""
DECLINE = """mutation($d: ID!) { declineAmlHold(decisionId: $d, reason: "funds from a third party") {
  decision { holdStatus } errors { field code } } }"""


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)


async def run(schema: Any, runtime: Any, actor: Actor, query: str, **variables: Any) -> Any:
    ctx = Context(services=runtime.services, request=None, response=None, request_id="t",  # type: ignore[arg-type]
                  actor=actor)
    out = await schema.execute(query, variable_values=variables, context_value=ctx)
    assert out.errors is None, out.errors
    return out.data


def client_actor(uid: int) -> Actor:
    return Actor(ActorKind.CLIENT, user_id=uid)


async def rows(session_factory: Any, sql: str, **params: Any) -> list[Any]:
    async with session_factory() as s:
        return list((await s.execute(text(sql), params)).all())


@asynccontextmanager
async def funded_account(session_factory: Any, settings: Any, make_user: Any, sim: SimServer, *,  # noqa: F811
                         timeout: float = 1.0) -> AsyncIterator[dict[str, Any]]:
    """A client with 500 in the wallet and a trading account on the simulator, its server configured in
    the database (with the simulator's manager password, as a worker process reads it) and registered
    with this process."""
    platform = sim.platform(timeout=timeout)
    uid = await make_user()
    login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="T"))).login
    currency = (await platform.get_account_state(login)).currency

    async def prepare(s: Any) -> tuple[int, int]:
        server_id = await upsert_server(s, settings.secret_key.get_secret_value(), ServerConfig(
            f"aml-{uuid.uuid4().hex[:8]}", sim.base_url, 1000, sim.password))
        await register_accounts(s, server_id, [AccountSpec(login, "real\\standard", 100, currency, user_id=uid)])
        await link_trading_account(s, user_id=uid, server_id=str(server_id), login=login, currency=currency)
        await wallets.deposit_to_wallet(s, client_actor(uid), user_id=uid, currency=currency, amount=Decimal("500"),
                                        idempotency_key=uuid.uuid4().hex)
        account_id = await s.scalar(text("SELECT id FROM trading_accounts WHERE server_id = :s AND login = :l"),
                                    {"s": server_id, "l": login})
        return server_id, int(account_id)

    server_id, account_id = await in_transaction(session_factory, prepare)
    register_platform(str(server_id), platform)
    async with session_factory() as s:
        wallet = (await wallet_for(s, uid, currency)).id
    try:
        yield {"uid": uid, "wallet": wallet, "account": account_id, "login": login, "currency": currency,
               "platform": platform}
    finally:
        unregister_platform(str(server_id))
        await platform.aclose()


@pytest.fixture
async def account(session_factory: Any, settings: Any, make_user: Any,
                  sim: SimServer) -> AsyncIterator[dict[str, Any]]:  # noqa: F811
    async with funded_account(session_factory, settings, make_user, sim) as a:
        yield a


async def hold_transfers(live: Any, session_factory: Any, uid: int, *, score: int = 60) -> None:  # noqa: F811
    """Live: transfers of 100 or more by this client score `score` (60 blocks: held; 100 declines)."""
    await live(document(await watch(session_factory, uid), triggers=["transfer"], rules=[
        {"name": "large_transfer", "score": score,
         "when": {"cmp": "gte", "left": {"field": "amount"}, "right": {"const": 100}}}]))


async def transfer(schema: Any, runtime: Any, a: dict[str, Any], amount: str) -> dict[str, Any]:
    data = await run(schema, runtime, client_actor(a["uid"]), TO, i={
        "walletId": str(a["wallet"]), "tradingAccountId": str(a["account"]), "amount": amount,
        "idempotencyKey": uuid.uuid4().hex})
    return dict(data["transferToTradingAccount"])


async def test_a_held_transfer_keeps_the_money_and_goes_on_when_released(
        schema: Any, runtime: Any, session_factory: Any, live: Any, account: dict[str, Any]) -> None:  # noqa: F811
    a = account
    await hold_transfers(live, session_factory, a["uid"])
    before = (await a["platform"].get_account_state(a["login"])).balance

    small = await transfer(schema, runtime, a, "50.00")  # below the rule: goes through
    assert small["transfer"]["status"] == "DONE" and small["errors"] == []
    held = await transfer(schema, runtime, a, "300.00")
    assert held == {"transfer": {"databaseId": held["transfer"]["databaseId"], "status": "HELD", "amount": "300.00"},
                    "errors": []}
    tid = int(held["transfer"]["databaseId"])
    # the money is held in the wallet, the platform was not called
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("450"), Decimal("300"))  # balance, held
    assert (await a["platform"].get_account_state(a["login"])).balance == before + Decimal("50")

    officer_id = await staff_user(session_factory)
    found = await run(schema, runtime, officer(officer_id), DECISIONS, u=str(a["uid"]))
    decision = next(d for d in found["amlDecisions"]["nodes"] if d["subject"] == f"transfer:{tid}")
    assert (decision["trigger"], decision["outcome"], decision["holdStatus"]) == ("transfer", "BLOCK", "held")
    assert decision["event"]["transfer_kind"] == "wallet_to_account"
    assert decision["explain"] == [{"rule": "large_transfer", "hit": True}]

    released = await run(schema, runtime, officer(officer_id), RELEASE, d=decision["id"])
    assert released["releaseAmlHold"] == {"decision": {"holdStatus": "released"}, "errors": []}
    assert (await rows(session_factory, "SELECT status FROM ledger_transfers WHERE id = :i", i=tid))[0][0] == "pending"
    event = (await rows(session_factory, "SELECT id, topic, payload FROM outbox WHERE job = 'aml_resume_transfer' "
                        "AND (payload->>'transfer_id')::bigint = :t", t=tid))[0]
    # what the worker does with the event (its seam: test_aml_worker_seam.py)
    status = await aml_jobs.aml_resume_transfer({"session_factory": session_factory}, event.id, event.topic,
                                                event.payload)
    assert status == "done"
    assert await aml_jobs.aml_resume_transfer({"session_factory": session_factory}, event.id, event.topic,
                                              event.payload) == "done"  # delivered twice: moved once
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("150"), Decimal("0"))
    assert (await a["platform"].get_account_state(a["login"])).balance == before + Decimal("350")
    await check_invariants(session_factory)


async def test_a_declined_transfer_gives_the_money_back_to_the_wallet(
        schema: Any, runtime: Any, session_factory: Any, live: Any, account: dict[str, Any]) -> None:  # noqa: F811
    a = account
    await hold_transfers(live, session_factory, a["uid"])
    before = (await a["platform"].get_account_state(a["login"])).balance
    held = await transfer(schema, runtime, a, "200.00")
    tid = int(held["transfer"]["databaseId"])
    officer_id = await staff_user(session_factory)
    found = await run(schema, runtime, officer(officer_id), DECISIONS, u=str(a["uid"]))
    decision = next(d for d in found["amlDecisions"]["nodes"] if d["subject"] == f"transfer:{tid}")

    declined = await run(schema, runtime, officer(officer_id), DECLINE, d=decision["id"])
    assert declined["declineAmlHold"] == {"decision": {"holdStatus": "declined"}, "errors": []}
    again = await run(schema, runtime, officer(officer_id), DECLINE, d=decision["id"])
    assert again["declineAmlHold"] == {"decision": None, "errors": [{"field": "decisionId",
                                                                     "code": "DECISION_NOT_HELD"}]}
    status, code = (await rows(session_factory, "SELECT status, error_code FROM ledger_transfers WHERE id = :i",
                               i=tid))[0]
    assert (status, code) == ("failed", "AML_DECLINED")
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("500"), Decimal("0"))
    assert (await a["platform"].get_account_state(a["login"])).balance == before
    await check_invariants(session_factory)


async def test_a_transfer_scoring_decline_fails_at_once_and_takes_nothing(
        schema: Any, runtime: Any, session_factory: Any, live: Any, account: dict[str, Any]) -> None:  # noqa: F811
    a = account
    await hold_transfers(live, session_factory, a["uid"], score=100)
    out = await transfer(schema, runtime, a, "120.00")
    assert out["transfer"]["status"] == "FAILED"
    assert out["errors"] == [{"code": "AML_DECLINED", "field": None}]
    assert await wallet_balance(session_factory, a["wallet"]) == (Decimal("500"), Decimal("0"))
    held = await rows(session_factory, "SELECT hold_status FROM aml_decisions WHERE subject = :s",
                      s=f"transfer:{out['transfer']['databaseId']}")
    assert [h[0] for h in held] == ["declined"]
    await check_invariants(session_factory)


async def test_wallet_transfers_exchanges_and_profile_changes_raise_alerts_without_holding(
        session_factory: Any, live: Any, make_user: Any) -> None:  # noqa: F811
    uid, other = await make_user(), await make_user()
    watched = await watch(session_factory, uid)
    await live(document(watched, triggers=["transfer", "exchange", "profile_change"], rules=[
        {"name": "own_wallets", "score": 20, "when": {"cmp": "eq", "left": {"field": "transfer_kind"},
                                                       "right": {"const": "wallet_to_wallet"}}},
        {"name": "to_euro", "score": 20, "when": {"cmp": "eq", "left": {"field": "to_currency"},
                                                     "right": {"const": "EUR"}}},
        {"name": "any_change", "score": 20, "when": {"const": True}}]))
    actor = client_actor(uid)

    async def work(s: Any) -> None:
        await wallets.deposit_to_wallet(s, actor, user_id=uid, currency="USD", amount=Decimal("300"),
                                        idempotency_key=uuid.uuid4().hex)
        usd, theirs = await wallet_for(s, uid, "USD"), await wallet_for(s, other, "USD")
        await wallets.wallet_transfer(s, system_actor("test"), from_wallet_id=usd.id, to_wallet_id=theirs.id,
                                      amount=Decimal("40"), idempotency_key=uuid.uuid4().hex, owner_id=None)
        await wallets.exchange(s, actor, user_id=uid, from_currency="USD", to_currency="EUR", amount=Decimal("50"),
                               idempotency_key=uuid.uuid4().hex)
        await events.on_profile_change(s, system_actor("test"), user_id=uid, client_id=0)

    await in_transaction(session_factory, work)
    got = await rows(session_factory, "SELECT trigger, split_part(subject, ':', 1), outcome, hold_status, case_id "
                     "FROM aml_decisions WHERE user_id = :u ORDER BY id", u=uid)
    assert [(r[0], r[1], r[2], r[3]) for r in got] == [
        ("transfer", "wallet_transfer", "review", None), ("exchange", "exchange", "review", None),
        ("profile_change", "client", "review", None)]
    assert len({r[4] for r in got}) == 1  # one case for the client


async def test_the_schedule_scores_every_active_client_and_stores_only_alerts(
        session_factory: Any, live: Any, make_user: Any) -> None:  # noqa: F811
    busy, quiet = await make_user(), await make_user()
    watched = await watch(session_factory, busy, quiet)
    await live(document(watched, triggers=["schedule"], rules=[
        {"name": "funded", "score": 20, "when": {"cmp": "gte", "left": {"agg": "count", "window": {"days": 30}},
                                                  "right": {"const": 1}}}]))
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, "
            "status, correlation_id) VALUES (:r, :u, 'deposit', 'wire', 'wire', 'test', 'USD', 100, 'succeeded', "
            "gen_random_uuid())"), {"r": uuid.uuid4().hex[:20], "u": busy})
    ctx = {"session_factory": session_factory}
    done = await aml_jobs.aml_scheduled_scan(ctx)
    assert done["clients"] >= 2
    got = await rows(session_factory, "SELECT user_id, trigger, outcome FROM aml_decisions "
                     "WHERE user_id = ANY(:u)", u=[busy, quiet])
    assert got == [(busy, "schedule", "review")]


async def test_the_nightly_scan_raises_a_persisting_pattern_once_and_new_evidence_again(
        session_factory: Any, live: Any, make_user: Any) -> None:  # noqa: F811
    busy = await make_user()
    await live(document(await watch(session_factory, busy), triggers=["schedule"], rules=[
        {"name": "funded", "score": 20, "when": {"cmp": "gte", "left": {"agg": "count", "window": {"days": 30}},
                                                  "right": {"const": 1}}}]))

    async def deposit() -> None:
        async with session_factory() as s, s.begin():
            await s.execute(text(
                "INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, "
                "amount, status, correlation_id, created_at) VALUES (:r, :u, 'deposit', 'wire', 'wire', 'test', 'USD', "
                "100, 'succeeded', gen_random_uuid(), now() - interval '3 days')"), {"r": uuid.uuid4().hex[:20], "u": busy})

    async def night(days_later: int) -> list[Any]:
        at = (datetime.now(UTC) + timedelta(days=days_later)).isoformat()
        await aml_jobs.aml_scheduled_scan({"session_factory": session_factory}, at)
        return await rows(session_factory, "SELECT d.case_id, d.explain, c.alert_count FROM aml_decisions d "
                          "JOIN aml_cases c ON c.id = d.case_id WHERE d.user_id = :u AND d.trigger = 'schedule' "
                          "ORDER BY d.id", u=busy)

    await deposit()
    [first] = await night(0)
    assert first.alert_count == 1
    assert await night(1) == [first]  # the same deposit the next night: the open case holds the alert already
    await deposit()
    second = await night(2)  # new evidence (two deposits in the window): raised, joining the open case
    assert len(second) == 2 and second[1].case_id == first.case_id and second[1].alert_count == 2
    assert second[1].explain[0]["values"] != first.explain[0]["values"]
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE aml_cases SET status = 'closed', outcome = 'false_positive', closed_at = now() "
                             "WHERE id = :c"), {"c": first.case_id})
    assert len(await night(3)) == 2  # closed on exactly this evidence: not raised again
    assert await rows(session_factory, "SELECT count(*) FROM audit_events WHERE action = 'aml.alert' AND "
                      "entity_id IN (SELECT id::text FROM aml_decisions WHERE user_id = :u)", u=busy) == [(2,)]


async def test_a_sign_in_from_a_new_country_raises_an_alert(
        http: httpx.AsyncClient, schema: Any, runtime: Any, session_factory: Any, settings: Any,
        live: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(settings, "country_header", "X-Test-Country")
    email = f"{uuid.uuid4().hex[:12]}@client.example"
    async with session_factory() as s, s.begin():
        user = await create_user(s, settings, system_actor("test"), email=email, password=PASSWORD, is_client=True)
    uid = user.id
    await live(document(await watch(session_factory, uid), triggers=["login_country"], rules=[
        {"name": "new_country", "score": 20, "when": {"not": {"in_list": {"field": "country"},
                                                              "list": "high_risk_countries"}}}]))
    anon = GraphQLClient(http)

    async def sign_in(country: str | None) -> None:
        headers = {"X-Test-Country": country} if country else {}
        r = await anon.http.post("/graphql", headers=headers, json={
            "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code } } }",
            "variables": {"i": {"email": email, "password": PASSWORD, "device": "pytest"}}})
        assert r.json()["data"]["login"]["errors"] == []

    await sign_in("DE")  # the first sign-in: nothing to compare with
    await sign_in("de")  # known
    await sign_in(None)  # no country: nothing
    assert await rows(session_factory, "SELECT id FROM aml_decisions WHERE user_id = :u", u=uid) == []
    await sign_in("BR")
    countries = await rows(session_factory, "SELECT country FROM auth_sessions WHERE user_id = :u ORDER BY id", u=uid)
    assert [c[0] for c in countries] == ["DE", "DE", None, "BR"]
    found = await run(schema, runtime, officer(await staff_user(session_factory)), DECISIONS, u=str(uid))
    [decision] = found["amlDecisions"]["nodes"]
    assert (decision["trigger"], decision["outcome"]) == ("login_country", "REVIEW")
    assert decision["event"]["country"] == "BR" and decision["event"]["known_countries"] == "DE"
    newest = (await rows(session_factory, "SELECT max(id) FROM auth_sessions WHERE user_id = :u", u=uid))[0][0]
    assert decision["subject"] == f"session:{newest}"


BAD = [
    ({"agg": "count", "source": "links", "window": {"days": 30}, "where": {"link": ["fax"]}}, "left.where.link"),
    ({"agg": "sum", "of": "other_user", "source": "links", "window": {"days": 30}, "where": {"link": ["ip"]}},
     "left.agg"),
    ({"agg": "count", "source": "mirror_deals", "window": {"days": 30}, "where": {"within_seconds": 0}},
     "left.where.within_seconds"),
    ({"agg": "count_distinct", "of": "counterpart_deals", "source": "mirror_deals", "window": {"days": 30}},
     "left.of"),
    ({"answer": "annual income", "amounts": {"low": 1}}, "left.answer"),
    ({"answer": "annual_income", "amounts": {"low": -5}}, "left.amounts.low"),
    ({"answer": "annual_income", "amounts": {"low": 1.5}}, "left.amounts.low"),
    ({"agg": "count", "window": {"days": 1}, "where": {"same_method": "yes"}}, "left.where.same_method"),
    ({"agg": "count", "window": {"days": 1}, "where": {"amount_gte_method_max_share": 2}},
     "left.where.amount_gte_method_max_share"),
    ({"agg": "count", "source": "transfers", "window": {"days": 1}, "where": {"direction": "sideways"}},
     "left.where.direction"),
]


@pytest.mark.parametrize(("bad", "at"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
async def test_bad_new_nodes_are_refused_with_their_path_and_nothing_saved(
        schema: Any, runtime: Any, session_factory: Any, bad: dict[str, Any], at: str) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    doc = {"triggers": ["schedule"], "thresholds": {"review": 10},
           "rules": [{"name": "r", "score": 10, "when": {"cmp": "gte", "left": bad, "right": {"const": 1}}}]}
    out = await run(schema, runtime, officer(await staff_user(session_factory)), CREATE, n=name, d=doc)
    assert out["createAmlScenario"]["scenario"] is None
    assert {"field": f"rules[0].when.{at}", "code": "INVALID_RULE_DOCUMENT"} in out["createAmlScenario"]["errors"]
    assert await rows(session_factory, "SELECT id FROM aml_scenarios WHERE name = :n", n=name) == []
    assert await rows(session_factory, "SELECT id FROM audit_events WHERE action = 'aml.scenario_created' "
                      "AND after->>'name' = :n", n=name) == []


async def test_a_bad_trigger_is_refused() -> None:
    from domain.compliance.aml.rules import compile_document
    from domain.shared.errors import DomainError

    with pytest.raises(DomainError) as refused:
        compile_document({"triggers": ["login_new_planet"], "thresholds": {"review": 1},
                          "rules": [{"name": "r", "score": 1, "when": {"const": True}}]})
    assert refused.value.code == "INVALID_RULE_DOCUMENT" and refused.value.field == "triggers"



async def test_a_test_run_of_a_scenario_without_payment_triggers_is_refused(
        schema: Any, runtime: Any, session_factory: Any) -> None:
    doc = {"triggers": ["schedule"], "thresholds": {"review": 10},
           "rules": [{"name": "r", "score": 10, "when": {"const": True}}]}
    who = officer(await staff_user(session_factory))
    made = await run(schema, runtime, who, CREATE, n=f"sched-{uuid.uuid4().hex[:8]}", d=doc)
    sid = made["createAmlScenario"]["scenario"]["id"]
    out = await run(schema, runtime, who, TEST_RUN, s=sid, a="2024-01-01T00:00:00Z", b="2024-02-01T00:00:00Z", d=None)
    assert out["runAmlTest"] == {"run": None, "errors": [{"field": "document", "code": "VALIDATION_FAILED"}]}
