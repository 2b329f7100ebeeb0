"""Payout preview and staff-triggered payout runs over HTTP: what a period would pay, exact refusals
that write nothing, exactly-once under concurrent runs, idempotent replays, and the job's path."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from domain.ib import payouts
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, in_transaction, utcnow
from tests.ib.conftest import World
from tests.ib.test_payouts import _balances, _earning_ib
from tests.identity.staff import make_staff
from tests.ids import db_id

D = Decimal
PREVIEW = """query($p: String!, $i: ID) { ibPayoutPreview(period: $p, ibId: $i) { ibId currency periodKey amount
  minimum heldBefore outcome lines linesAmount existingPayout { id } } }"""
RUN = """mutation($i: RunIbPayoutsInput!) { runIbPayouts(input: $i) { run { periodKey ibs replayed
  created { id amount status periodKey } existing { id } } errors { code field } } }"""
TABLES = ("ib_payouts", "idempotency_keys", "ledger_entries", "audit_events", "outbox")


async def _counts(factory: Any) -> dict[str, int]:
    async with factory() as s:
        return {t: int(await s.scalar(text(f"SELECT count(*) FROM {t}"))) for t in TABLES}


async def _backdate(owner_url: str, ib: int, days: int = 2) -> None:
    """Move the IB's accruals (entries and lines) `days` into the past, as if earned then.

    Test setup only: both tables are append-only, so the owner switches triggers off for its own
    transaction (session_replication_role), nothing else sees the switch."""
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "UPDATE ledger_entries SET created_at = created_at - make_interval(days => $2) WHERE id IN ("
                "SELECT p.entry_id FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE a.owner_id = $1 AND a.purpose = 'ib_payable')", ib, days)
            await conn.execute("UPDATE ib_commission_lines SET created_at = created_at - make_interval(days => $2) "
                               "WHERE ib_id = $1", ib, days)
    finally:
        await conn.close()


async def test_preview_then_run_a_period_exactly_once(world: World, http: httpx.AsyncClient, session_factory: Any,
                                                      settings: Any, services: Any) -> None:
    # given an IB on a daily cycle that earned 3 lots x $5 = 15.00 two days ago (minimum 10.00)
    ib = await _earning_ib(world, "3", payout_min=D("10"))
    await _backdate(services.owner_url, ib)
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client

    preview = (await finance(PREVIEW, {"p": yesterday, "i": str(ib)}))["data"]["ibPayoutPreview"]
    assert preview == [{"ibId": str(ib), "currency": "USD", "periodKey": yesterday, "amount": "15.00",
                        "minimum": "10", "heldBefore": "0.00", "outcome": "PAY", "lines": 1, "linesAmount": "15.00",
                        "existingPayout": None}]
    everyone = (await finance(PREVIEW, {"p": yesterday}))["data"]["ibPayoutPreview"]
    assert str(ib) in {d["ibId"] for d in everyone}

    # refusals: exact codes, nothing written (no payout, key, entry, audit or outbox row)
    month = payouts.last_closed_period("monthly", utcnow()).key
    manager = (await make_staff(http, session_factory, settings, ["ib_manager"])).client
    before = await _counts(world.factory)
    for variables, code in [
        ({"period": "2025-13-01", "idempotencyKey": "k0", "ibId": str(ib)}, ("IB_PAYOUT_PERIOD_INVALID", "period")),
        ({"period": "last month", "idempotencyKey": "k0", "ibId": str(ib)}, ("IB_PAYOUT_PERIOD_INVALID", "period")),
        ({"period": utcnow().date().isoformat(), "idempotencyKey": "k0", "ibId": str(ib)},
         ("IB_PAYOUT_PERIOD_NOT_CLOSED", "period")),
        ({"period": month, "idempotencyKey": "k0", "ibId": str(ib)}, ("IB_PAYOUT_CYCLE_MISMATCH", "period")),
        ({"period": yesterday, "idempotencyKey": " ", "ibId": str(ib)}, ("VALIDATION_FAILED", "idempotencyKey")),
        ({"period": yesterday, "idempotencyKey": "k0", "ibId": "999999999"}, ("IB_NOT_FOUND", None)),
    ]:
        body = await finance(RUN, {"i": variables})
        assert [(e["code"], e["field"]) for e in body["data"]["runIbPayouts"]["errors"]] == [code], body
    body = await finance(PREVIEW, {"p": "2025-W60"})
    assert body["errors"][0]["extensions"]["code"] == "IB_PAYOUT_PERIOD_INVALID"
    body = await manager(RUN, {"i": {"period": yesterday, "idempotencyKey": "k0", "ibId": str(ib)}})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _counts(world.factory) == before
    assert await _balances(world, ib) == (D("15.00"), D(0))

    # three staff runs of the same period at once (different keys): exactly one pays
    runs = await asyncio.gather(*[finance(RUN, {"i": {"period": yesterday, "idempotencyKey": f"run-{ib}-{n}",
                                                      "ibId": str(ib)}}) for n in range(3)])
    results = [r["data"]["runIbPayouts"] for r in runs]
    assert all(r["errors"] == [] for r in results), results
    created = [p for r in results for p in r["run"]["created"]]
    assert [(p["amount"], p["status"], p["periodKey"]) for p in created] == [("15.00", "paid", yesterday)]
    assert sorted(len(r["run"]["existing"]) for r in results) == [0, 1, 1]
    assert await _balances(world, ib) == (D(0), D("15.00"))

    # the same key replays the stored answer; the preview now says the period ran
    first = next(r for r in results if r["run"]["created"])
    key = f"run-{ib}-{results.index(first)}"
    again = (await finance(RUN, {"i": {"period": yesterday, "idempotencyKey": key, "ibId": str(ib)}}))
    assert again["data"]["runIbPayouts"]["run"] == {**first["run"], "replayed": True}
    body = await finance(RUN, {"i": {"period": month, "idempotencyKey": key, "ibId": str(ib)}})
    assert [e["code"] for e in body["data"]["runIbPayouts"]["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    after = (await finance(PREVIEW, {"p": yesterday, "i": str(ib)}))["data"]["ibPayoutPreview"]
    assert [(d["outcome"], d["existingPayout"]) for d in after] == [("ALREADY_RUN", {"id": created[0]["id"]})]

    # the 00:15 job goes through the same service: yesterday is its last closed daily period, nothing new
    before = await _counts(world.factory)
    job = await in_transaction(world.factory, lambda s: payouts.run_for_ib(s, system_actor("job"), ib, now=utcnow()))
    assert [p.id for p in job] == [db_id(created[0]["id"])]
    assert await _counts(world.factory) == before and await _balances(world, ib) == (D(0), D("15.00"))
    audit = await world.sql("SELECT count(*) FROM audit_events WHERE action = 'ib.payout_run'")
    assert audit[0][0] >= 1


async def test_a_held_payout_waits_for_release(world: World, http: httpx.AsyncClient, session_factory: Any,
                                               settings: Any, services: Any) -> None:
    ib = await _earning_ib(world, "2", payout_hold=True)
    await _backdate(services.owner_url, ib)
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    preview = (await finance(PREVIEW, {"p": yesterday, "i": str(ib)}))["data"]["ibPayoutPreview"]
    assert [(d["amount"], d["outcome"]) for d in preview] == [("10.00", "HOLD")]
    run = (await finance(RUN, {"i": {"period": yesterday, "idempotencyKey": f"hold-{ib}",
                                     "ibId": str(ib)}}))["data"]["runIbPayouts"]["run"]
    assert [(p["amount"], p["status"]) for p in run["created"]] == [("10.00", "held")]
    assert await _balances(world, ib) == (D("10.00"), D(0))
    released = await finance("mutation($p: ID!) { approveIbPayout(input: {payoutId: $p}) { payouts { status } "
                             "errors { code } } }", {"p": run["created"][0]["id"]})
    assert released["data"]["approveIbPayout"] == {"payouts": [{"status": "paid"}], "errors": []}
    assert await _balances(world, ib) == (D(0), D("10.00"))


async def test_an_on_demand_run_pays_what_accrued_before_an_instant_and_never_twice(
    world: World, http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    # given an IB on a daily cycle that earned 3 lots x $5 = 15.00 just now (today's period is still open)
    ib = await _earning_ib(world, "3", payout_min=D("10"))
    finance = (await make_staff(http, session_factory, settings, ["finance"])).client
    await asyncio.sleep(1.1)  # the instant is whole seconds: let it pass the accrual
    instant = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    key = instant.replace("-", "").replace(":", "")

    # refused and nothing written: an instant still ahead, a malformed one
    before = await _counts(world.factory)
    ahead = (utcnow() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for period, code in [(ahead, "IB_PAYOUT_PERIOD_NOT_CLOSED"), ("2025-01-14T25:00:00Z", "IB_PAYOUT_PERIOD_INVALID")]:
        body = await finance(RUN, {"i": {"period": period, "idempotencyKey": f"od-bad-{ib}", "ibId": str(ib)}})
        assert [e["code"] for e in body["data"]["runIbPayouts"]["errors"]] == [code], body
    assert await _counts(world.factory) == before and await _balances(world, ib) == (D("15.00"), D(0))

    # the preview and the run up to the instant pay the 15.00, whatever the IB's cycle
    preview = (await finance(PREVIEW, {"p": instant, "i": str(ib)}))["data"]["ibPayoutPreview"]
    assert [(d["periodKey"], d["amount"], d["outcome"]) for d in preview] == [(key, "15.00", "PAY")]
    runs = await asyncio.gather(*[finance(RUN, {"i": {"period": instant, "idempotencyKey": f"od-{ib}-{n}",
                                                      "ibId": str(ib)}}) for n in range(2)])
    created = [p for r in runs for p in r["data"]["runIbPayouts"]["run"]["created"]]
    assert [(p["amount"], p["status"], p["periodKey"]) for p in created] == [("15.00", "paid", key)]
    assert await _balances(world, ib) == (D(0), D("15.00"))

    # a later instant, and the cyclic run for today once it closes, find nothing more to pay
    await asyncio.sleep(1.1)
    later = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = await finance(RUN, {"i": {"period": later, "idempotencyKey": f"od-later-{ib}", "ibId": str(ib)}})
    assert body["data"]["runIbPayouts"]["run"]["created"] == []
    tomorrow = utcnow() + timedelta(days=1)
    job = await in_transaction(world.factory, lambda s: payouts.run_for_ib(s, system_actor("job"), ib, now=tomorrow))
    assert job == [] and await _balances(world, ib) == (D(0), D("15.00"))
