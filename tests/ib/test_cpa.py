"""CPA worked example: qualification by deposits and lots, distribution up the tree, once per client
(also when two evaluations race), explain, and clawback on chargeback / fraud (adjustment lines, never deletes)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ib import cpa
from domain.ib.errors import CpaAlreadyClawedBack, CpaNotFound
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.ledger.accounts import Purpose, house_account, wallet_for
from domain.ledger.posting import Leg, post
from domain.ledger.wallets import deposit_to_wallet
from domain.shared.db import in_transaction, utcnow
from jobs.ib import ib_clawback_chargebacks
from tests.ib.conftest import ENGINE, STAFF, World, counts
from tests.ib.test_engine import make_plan

D = Decimal
CPA = ClauseSpec(ClauseKind.CPA, (D("0.75"), D("0.25")), base_rate=D(200), max_total=D(200),
                 params={"min_deposit": "100", "deposit_days": 7, "min_lots": "2", "lots_days": 30})


async def deposit(w: World, client: int, amount: str) -> None:
    await in_transaction(w.factory, lambda s: deposit_to_wallet(
        s, ENGINE, user_id=client, currency="USD", amount=D(amount), idempotency_key=uuid.uuid4().hex))


async def evaluate(w: World, client: int) -> cpa.CpaRun:
    now = w.day + timedelta(days=1)
    return await in_transaction(w.factory, lambda s: cpa.evaluate(s, ENGINE, now=now, client_ids=[client]))


async def payable(w: World, ib: int) -> Decimal:
    rows = await w.sql("SELECT coalesce(sum(b.balance), 0) FROM ledger_accounts a JOIN ledger_balances b "
                       "ON b.account_id = a.id WHERE a.purpose = 'ib_payable' AND a.owner_id = :a", a=ib)
    return D(rows[0][0])


@pytest.fixture
async def live(world: World) -> World:
    """Deals after the deposits: ledger entries are stamped now(), so this test trades just after now."""
    return World(world.factory, world.server_id, utcnow().replace(microsecond=0) + timedelta(minutes=1))


async def test_cpa_pays_once_up_the_tree_and_is_clawed_back_on_chargeback(live: World) -> None:
    w = live
    # given master M over A, a client of A; CPA $200 split 75% / 25% when deposits reach $100 within
    # 7 days of the first deposit and 2 closed lots are traded within 30 days of it
    m = await w.ib()
    a = await w.ib(m)
    client = await w.client_of(a)
    login = await w.account(client)
    await make_plan(w, Distribution.PERCENT, [CPA], ibs=(a,))
    # when the client deposits 60 then 50 (110 >= 100), and closes 1.5 lots (plus opening 5 lots, not counted)
    await deposit(w, client, "60")
    await deposit(w, client, "50")
    await w.trade([w.deal(login, minutes=1, volume="5", entry=0), w.deal(login, minutes=2, volume="1.5")])
    # then 1.5 < 2 lots: not yet qualified
    assert (await evaluate(w, client)).clients == 0
    # when another closed lot brings it to 2.5 lots
    await w.trade([w.deal(login, minutes=3, volume="1")])
    run = await evaluate(w, client)
    # then A earns 200 x 75% = 150.00 at level 0, M 200 x 25% = 50.00 at level 1, posted in one entry
    assert (run.clients, run.lines, len(run.entry_ids)) == (1, 2, 1)
    assert await w.earned(a) == {0: D("150.00")} and await w.earned(m) == {1: D("50.00")}
    assert await payable(w, a) == D("150.00") and await payable(w, m) == D("50.00")
    # explain: formula and the deposit and lots that qualified
    rows = await w.sql("SELECT formula, inputs, deal_time FROM ib_commission_lines WHERE ib_id = :a AND source = 'cpa'",
                       a=a)
    formula, inputs, at = rows[0]
    assert formula.startswith("payout_rate; payout_rate = base_rate * level_rates[level]")
    assert D(inputs["deposits"]) == D(110) and D(inputs["first_deposit"]) == D(60) and D(inputs["lots"]) == D("2.5")
    assert D(inputs["payout_rate"]) == D(150) and inputs["min_lots"] == "2"
    assert at == w.day + timedelta(minutes=3)  # qualified with the lot that crossed the threshold
    # reprocessing and two racing evaluations pay nothing more
    again = await asyncio.gather(evaluate(w, client), evaluate(w, client))
    assert [r.clients for r in again] == [0, 0]
    assert await w.total(a) == D("150.00") and await w.total(m) == D("50.00")

    # when the deposit is charged back (a ledger entry of kind chargeback on the client's wallet)
    async def charge_back(s: Any) -> None:
        wallet = await wallet_for(s, client, "USD")
        clearing = await house_account(s, Purpose.PSP_CLEARING, "USD", provider="test")
        await post(s, ENGINE, [Leg(wallet, D(50), allow_negative=True), Leg(clearing, D(-50))], ref_kind="chargeback",
                   ref_id="cb-1", idempotency_key=f"cb:{uuid.uuid4().hex}")

    await in_transaction(w.factory, charge_back)
    assert await ib_clawback_chargebacks({"session_factory": w.factory}) >= 1
    # then clawback lines reverse each level; accruals are kept; payables are back to zero
    lines = await w.sql("SELECT ib_id, kind, seq, amount FROM ib_commission_lines WHERE client_id = :c ORDER BY id",
                        c=client)
    assert {(r[0], r[1], r[2], r[3]) for r in lines} == {(a, "accrual", 0, D("150.00")), (m, "accrual", 0, D("50.00")),
                                                         (a, "clawback", 1, D("-150.00")),
                                                         (m, "clawback", 1, D("-50.00"))}
    assert await payable(w, a) == D(0) and await payable(w, m) == D(0)
    audit = await w.sql("SELECT action FROM audit_events WHERE entity_type = 'ib_cpa' AND entity_id = :c",
                        c=str(client))
    assert [r[0] for r in audit] == ["ib.cpa_clawed_back.chargeback"]
    # a second clawback (staff fraud) is refused and changes nothing; the client never qualifies again
    before = await counts(w.factory)
    with pytest.raises(CpaAlreadyClawedBack):
        await in_transaction(w.factory, lambda s: cpa.clawback(s, STAFF, client, cause="fraud", reason="dup",
                                                               now=utcnow()))
    assert (await evaluate(w, client)).clients == 0
    assert await counts(w.factory) == before


async def test_staff_fraud_clawback_with_reason_and_refusals(live: World) -> None:
    w = live
    a = await w.ib()
    client = await w.client_of(a)
    login = await w.account(client)
    await make_plan(w, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.CPA, (D(120),), max_total=D(120),
                                                          params=CPA.params)], ibs=(a,))
    before = await counts(w.factory)
    with pytest.raises(CpaNotFound):
        await in_transaction(w.factory, lambda s: cpa.clawback(s, STAFF, client, cause="fraud", reason="x",
                                                               now=utcnow()))
    assert await counts(w.factory) == before
    await deposit(w, client, "100")
    await w.trade([w.deal(login, minutes=1, volume="2")])
    assert (await evaluate(w, client)).lines == 1
    assert await w.total(a) == D("120.00")
    out = await in_transaction(w.factory, lambda s: cpa.clawback(s, STAFF, client, cause="fraud",
                                                                 reason="multi-accounting", now=utcnow()))
    assert out.lines == 1 and len(out.entry_ids) == 1
    assert await w.total(a) == D(0)
    rows = await w.sql("SELECT reason, inputs FROM ib_commission_lines WHERE client_id = :c AND kind = 'clawback'",
                       c=client)
    assert rows[0][0] == "multi-accounting" and rows[0][1]["cause"] == "fraud"
    async with w.factory() as s:
        reason = await s.scalar(text("SELECT reason FROM audit_events WHERE entity_type = 'ib_cpa' "
                                     "AND entity_id = :c"), {"c": str(client)})
    assert reason == "multi-accounting"
