"""The retail-client loss percentage: the accounts of individual clients that traded in the 12 months
before a quarter, the losing share, stored per quarter; the period's bounds are exact (from
inclusive, the quarter's first instant exclusive); public to read, the job computes a quarter once."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.risk import retail_loss
from domain.shared.actor import ANONYMOUS, Actor, ActorKind, system_actor
from domain.shared.errors import DomainError
from jobs.risk import risk_retail_loss_quarter
from schema.root import build_schema
from tests.graphql_exec import run_as

SYSTEM = system_actor("test")
MS = timedelta(milliseconds=1)


def _quarter() -> date:
    """A quarter of its own, far from any other test's deals."""
    return date(random.randrange(2200, 2900), random.choice((1, 4, 7, 10)), 1)


async def _account(factory: Any, *, kind: str = "individual", account_type: str = "real") -> tuple[int, int, int]:
    """(server id, login, account id) of a new client's account."""
    email = f"loss-{uuid.uuid4().hex[:10]}@example.com"
    login = random.randrange(10**8, 10**9)
    async with factory() as s, s.begin():
        uid = await s.scalar(text("INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) "
                                  "RETURNING id"), {"e": email})
        await s.execute(text("INSERT INTO clients (user_id, status, kind) VALUES (:u, 'active', :k)"),
                        {"u": uid, "k": kind})
        server = await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id"), {"n": f"loss-{uuid.uuid4().hex[:8]}"})
        account = await s.scalar(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency, account_type) "
            "VALUES (:s, :l, :u, 'real\\std', 100, 'USD', :t) RETURNING id"),
            {"s": server, "l": login, "u": uid, "t": account_type})
    return int(server), login, int(account)


async def _deal(factory: Any, acct: tuple[int, int, int], at: datetime, profit: str, *, commission: str = "0",
                action: int = 0) -> None:
    server, login, account = acct
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, position_id, "
            "action, entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size, "
            "rate_profit, rate_margin, comment, batch_id) VALUES (:s, :d, :t, 0, :l, :a, 1, 1, :act, 1, 'EURUSD', "
            "1.1, 1, :p, :c, 0, 0, 0, 100000, 1, 1, '', gen_random_uuid())"),
            {"s": server, "d": random.randrange(10**12), "t": at, "l": login, "a": account, "act": action,
             "p": Decimal(profit), "c": Decimal(commission)})


async def _compute(factory: Any, quarter: date) -> retail_loss.QuarterFigure:
    async with factory() as s, s.begin():
        return await retail_loss.compute(s, SYSTEM, quarter)


async def test_the_losing_share_of_retail_accounts_that_traded(session_factory: Any) -> None:
    quarter = _quarter()
    t0, t1 = retail_loss.period_of(quarter)
    mid = t0 + timedelta(days=100)
    # given three retail accounts that traded: one lost (a gain eaten by its commission), one won, one lost
    loser = await _account(session_factory)
    await _deal(session_factory, loser, mid, "10", commission="-12")
    winner = await _account(session_factory)
    await _deal(session_factory, winner, mid, "-5")
    await _deal(session_factory, winner, mid + timedelta(days=1), "8")
    other = await _account(session_factory)
    await _deal(session_factory, other, mid, "-1")
    # and accounts that do not count: a corporate client's, a demo account, a balance operation only
    await _deal(session_factory, await _account(session_factory, kind="corporate"), mid, "-50")
    await _deal(session_factory, await _account(session_factory, account_type="demo"), mid, "-50")
    await _deal(session_factory, await _account(session_factory), mid, "-50", action=2)
    figure = await _compute(session_factory, quarter)
    assert (figure.retail_accounts, figure.losing_accounts, figure.loss_percentage) == (3, 2, Decimal("66.67"))
    assert (figure.period_from, figure.period_to) == (t0, t1)


async def _snapshot(factory: Any, acct: tuple[int, int, int], at: datetime, floating: str | None, *,
                    balance: str = "1000", equity: str = "1000") -> None:
    """A platform snapshot (the capture job's row) with the open positions' floating profit."""
    server, login, _ = acct
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO reconciliation_platform_balances (server_id, login, captured_at, currency, balance, equity, "
            "floating_profit) VALUES (:s, :l, :t, 'USD', :b, :e, :f)"),
            {"s": str(server), "l": login, "t": at, "b": Decimal(balance), "e": Decimal(equity),
             "f": None if floating is None else Decimal(floating)})


async def test_positions_open_at_the_period_end_count_with_their_unrealised_result(session_factory: Any) -> None:
    quarter = _quarter()
    t0, t1 = retail_loss.period_of(quarter)
    close = t1 - timedelta(minutes=5)  # the capture job's 23:55 snapshot on the period's last day
    # a realised gain of 100 with a floating loss of 300 at the end: a loser (realised only would call it a winner)
    gained_then_open = await _account(session_factory)
    await _deal(session_factory, gained_then_open, t0 + timedelta(days=40), "100")
    await _snapshot(session_factory, gained_then_open, t0 + timedelta(days=41), "0")
    await _snapshot(session_factory, gained_then_open, close, "-300")
    # no deal in the period, a position open at its end in profit: counted, a winner
    await _snapshot(session_factory, await _account(session_factory), close, "50")
    # a realised loss of 10 outweighed by a floating gain of 30: a winner
    recovering = await _account(session_factory)
    await _deal(session_factory, recovering, t0 + timedelta(days=60), "-10")
    await _snapshot(session_factory, recovering, close, "30")
    # a snapshot from before the floating column: equity less balance (-40), counted, a loser
    await _snapshot(session_factory, await _account(session_factory), close, None, balance="1000", equity="960")
    # not counted: a floating loss seen three days before the end only, a corporate client's, one after the period
    await _snapshot(session_factory, await _account(session_factory), t1 - timedelta(days=3), "-500")
    await _snapshot(session_factory, await _account(session_factory, kind="corporate"), close, "-100")
    await _snapshot(session_factory, await _account(session_factory), t1, "-100")
    figure = await _compute(session_factory, quarter)
    assert (figure.retail_accounts, figure.losing_accounts, figure.loss_percentage) == (4, 2, Decimal("50.00"))
    async with session_factory() as s:
        after = (await s.execute(text(
            "SELECT after FROM audit_events WHERE entity_type = 'retail_loss_quarter' AND entity_id = :q "
            "ORDER BY id DESC LIMIT 1"), {"q": quarter.isoformat()})).scalar_one()
    assert after["with_open_positions"] == 4


async def test_the_quarter_boundary_is_exact(session_factory: Any) -> None:
    quarter = _quarter()
    t0, t1 = retail_loss.period_of(quarter)
    assert t1 == datetime(quarter.year, quarter.month, 1, tzinfo=UTC) and t0 == t1.replace(year=t1.year - 1)
    # a loss on the period's first instant and one on its last millisecond count...
    first, last = await _account(session_factory), await _account(session_factory)
    await _deal(session_factory, first, t0, "-1")
    await _deal(session_factory, last, t1 - MS, "-1")
    # ...a loss a millisecond before the period and one on the quarter's first instant do not
    await _deal(session_factory, await _account(session_factory), t0 - MS, "-1")
    await _deal(session_factory, await _account(session_factory), t1, "-1")
    figure = await _compute(session_factory, quarter)
    assert (figure.retail_accounts, figure.losing_accounts, figure.loss_percentage) == (2, 2, Decimal("100.00"))
    # the next quarter's period holds the deal on its own first day... and the earlier ones of this year
    nxt = retail_loss.quarter_start(t1.date() + timedelta(days=92))
    later = await _compute(session_factory, nxt)
    assert later.retail_accounts == 2  # `last` (t1 - 1 ms) and the one at t1; `first` has left the window
    # a day that is not a quarter's first is refused
    with pytest.raises(DomainError) as raised:
        retail_loss.period_of(quarter + timedelta(days=1))
    assert (raised.value.code, raised.value.field) == ("VALIDATION_FAILED", "quarter")
    assert retail_loss.quarter_start(date(2026, 3, 31)) == date(2026, 1, 1)
    assert retail_loss.quarter_start(date(2026, 4, 1)) == date(2026, 4, 1)


async def test_no_trading_is_no_figure_and_a_recompute_restates(session_factory: Any) -> None:
    quarter = _quarter()
    empty = await _compute(session_factory, quarter)
    assert (empty.retail_accounts, empty.loss_percentage) == (0, None)
    t0, _ = retail_loss.period_of(quarter)
    await _deal(session_factory, await _account(session_factory), t0 + timedelta(days=3), "-2")
    again = await _compute(session_factory, quarter)
    assert (again.retail_accounts, again.losing_accounts, again.loss_percentage) == (1, 1, Decimal("100.00"))
    async with session_factory() as s:
        rows = (await s.execute(text("SELECT count(*) FROM retail_loss_quarters WHERE quarter_start = :q"),
                                {"q": quarter})).scalar_one()
        audited = (await s.execute(text("SELECT count(*) FROM audit_events WHERE entity_type = 'retail_loss_quarter' "
                                        "AND entity_id = :q"), {"q": quarter.isoformat()})).scalar_one()
    assert (rows, audited) == (1, 2)


async def test_the_job_computes_the_current_quarter_once(session_factory: Any) -> None:
    ctx = {"session_factory": session_factory}
    quarter = retail_loss.quarter_start(datetime.now(UTC).date())
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM retail_loss_quarters WHERE quarter_start = :q"), {"q": quarter})
    first = await risk_retail_loss_quarter(ctx)
    assert first["computed"] == quarter.isoformat()
    assert await risk_retail_loss_quarter(ctx) == {"computed": None}


QUERY = "query($d: Date) { retailLossPercentage(asOf: $d) { quarterStart retailAccounts lossPercentage } }"
COMPUTE = """mutation($q: Date!) { computeRetailLossPercentage(quarter: $q) {
  figure { quarterStart lossPercentage } errors { code field } } }"""


async def test_anyone_reads_the_figure_in_force_and_only_risk_staff_recompute(
        session_factory: Any, settings: Any, runtime: Any) -> None:
    schema = build_schema(settings)
    quarter = _quarter()
    t0, _ = retail_loss.period_of(quarter)
    await _deal(session_factory, await _account(session_factory), t0 + timedelta(days=3), "-2")
    await _deal(session_factory, await _account(session_factory), t0 + timedelta(days=4), "3")
    risk = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"risk.manage"}))
    made = await run_as(schema, runtime, risk, COMPUTE, q=quarter.isoformat())
    assert made.data["computeRetailLossPercentage"] == {
        "figure": {"quarterStart": quarter.isoformat(), "lossPercentage": "50"}, "errors": []}
    inside = await run_as(schema, runtime, ANONYMOUS, QUERY, d=(quarter + timedelta(days=40)).isoformat())
    assert inside.errors is None and inside.data["retailLossPercentage"] == {
        "quarterStart": quarter.isoformat(), "retailAccounts": 2, "lossPercentage": "50"}
    bad = await run_as(schema, runtime, risk, COMPUTE, q=(quarter + timedelta(days=1)).isoformat())
    assert bad.data["computeRetailLossPercentage"] == {
        "figure": None, "errors": [{"code": "VALIDATION_FAILED", "field": "quarter"}]}
    clients_only = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"clients.read"}))
    refused = await run_as(schema, runtime, clients_only, COMPUTE, q=quarter.isoformat())
    assert refused.data is None and refused.errors[0].extensions["code"] == "FORBIDDEN"
