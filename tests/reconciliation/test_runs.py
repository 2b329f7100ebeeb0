"""Runs end to end: real simulator for the trading side, real PostgreSQL, each injected fault shows
up as the right break, and re-running a cutoff is idempotent."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from domain.shared.db import utcnow
from tests.reconciliation.conftest import World, kinds, three_way_breaks


async def clean_day(world: World) -> None:
    """Deposit, move money both ways, ingest the platform's deals, settle and snapshot."""
    await world.deposit("500")
    assert (await world.to_account("200")).status.value == "done"
    assert (await world.from_account("50")).status.value == "done"
    await world.pull()
    await world.import_csv(world.csv(world.deposits))
    await world.snapshot()


async def test_clean_data_reports_zero_breaks_and_rerun_is_identical(world: World) -> None:
    await clean_day(world)
    cutoff = utcnow()

    first = await world.run(cutoff)
    again = await world.run(cutoff)

    s = first.summary["sections"]
    assert three_way_breaks(first.summary) == 0, await world.breaks(first.id)
    assert s["trading"] == {"matched": 2} and s["psp"] == {"matched": 1} and s["balance"] == {"matched": 1}
    assert again.id == first.id and again.attempts == 2 and again.summary["sections"] == s
    assert await world.breaks(first.id) == []
    # The snapshot keeps the platform's equity too (the client-money requirement counts it).
    async with world.factory() as session:
        equity = await session.scalar(text(
            "SELECT equity FROM reconciliation_platform_balances WHERE server_id = :s AND login = :l "
            "ORDER BY captured_at DESC LIMIT 1"), {"s": world.server, "l": world.login})
    assert equity is not None and Decimal(equity) == (await world.platform.get_account_state(world.login)).equity


async def test_dropped_webhook_is_a_psp_line_missing_in_ledger(world: World) -> None:
    await clean_day(world)
    await world.import_csv(world.csv([("lost-webhook-1", Decimal("75.00"))]))

    run = await world.run()

    found = await world.breaks(run.id)
    assert kinds(found) == [("psp", "missing_in_ledger")]
    brk = found[0]
    assert brk.key == f"{world.provider}:lost-webhook-1:{world.currency}"
    assert brk.evidence["ledger"] is None and brk.evidence["psp"]["amount"] == "75"
    assert brk.amount_diff == Decimal("75") and "webhook" in brk.suggested_cause


async def test_hand_made_platform_operation_is_missing_in_ledger_and_moves_the_balance(world: World) -> None:
    await clean_day(world)
    await world.hand_operation("7")
    await world.pull()
    await world.snapshot()

    run = await world.run()

    found = {b.section: b for b in await world.breaks(run.id)}
    assert kinds(list(found.values())) == [("balance", "balance_mismatch"), ("trading", "missing_in_ledger")]
    trading = found["trading"]
    assert trading.evidence["platform"]["tagged"] is False and trading.evidence["ledger"] is None
    assert trading.amount_diff == Decimal("7") and "by hand" in trading.suggested_cause
    balance = found["balance"]
    assert balance.amount_diff == Decimal("7")
    assert (balance.evidence["platformBalance"], balance.evidence["mirrorBalance"]) == ("157",
                                                                                        "150")


async def test_duplicate_psp_line_is_a_duplicate(world: World) -> None:
    await clean_day(world)
    ref, amount = world.deposits[0]
    await world.import_csv(world.csv([(ref, amount)], settled_at=utcnow()))  # the PSP reports it again

    run = await world.run()

    found = await world.breaks(run.id)
    assert kinds(found) == [("psp", "duplicate")]
    assert len(found[0].evidence["psp"]["lineIds"]) == 2 and found[0].evidence["ledger"]["amount"] == "500"


async def test_amount_off_by_a_cent_on_either_side_is_an_amount_mismatch(world: World) -> None:
    await world.deposit("500")
    await world.to_account("200")
    await world.pull()
    ref, _ = world.deposits[0]
    await world.import_csv(world.csv([(ref, Decimal("500.01"))]))
    async with world.factory() as s, s.begin():  # the platform's record of our deposit is a cent off
        await s.execute(text("UPDATE trading_balance_operations SET amount = amount - 0.01 WHERE server_id = :s"),
                        {"s": world.server_id})

    run = await world.run()

    found = {b.section: b for b in await world.breaks(run.id)}
    assert kinds(list(found.values())) == [("psp", "amount_mismatch"), ("trading", "amount_mismatch")]
    assert found["psp"].amount_diff == Decimal("0.01")
    assert found["trading"].amount_diff == Decimal("-0.01")
    assert found["trading"].evidence["ledger"]["amount"] == "200"
    assert found["trading"].evidence["platform"]["amount"] == "199.99"


async def test_fee_netted_ledger_amount_matches_and_not_settled_lines_are_ignored(world: World) -> None:
    await world.deposit("97.50")
    ref, _ = world.deposits[0]
    csv = world.csv([(ref, Decimal("100.00"))], fee="2.50") + \
        f"{world.provider},never-settled,10.00,{world.currency},0,{utcnow().isoformat()},failed\n"
    await world.import_csv(csv)

    run = await world.run()

    assert run.summary["sections"]["psp"] == {"matched": 1}


async def test_platform_op_just_after_the_cutoff_is_a_timing_break(world: World) -> None:
    await world.deposit("300")
    await world.import_csv(world.csv(world.deposits))
    world.sim.ok("POST", "tick", steps=1, step_ms=120_000, activity=0)  # the platform's clock runs ahead
    await world.to_account("100")
    await world.pull()

    run = await world.run()

    found = await world.breaks(run.id)
    assert kinds(found) == [("trading", "timing")]
    ev = found[0].evidence
    assert ev["ledger"]["amount"] == ev["platform"]["amount"] == "100"


async def test_rerun_updates_breaks_in_place_and_clears_fixed_ones(world: World) -> None:
    await world.deposit("500")
    await world.to_account("200")
    await world.pull()
    await world.import_csv(world.csv(world.deposits))
    async with world.factory() as s, s.begin():
        await s.execute(text("UPDATE trading_balance_operations SET amount = amount + 0.01 WHERE server_id = :s"),
                        {"s": world.server_id})
    cutoff = utcnow()
    first = await world.run(cutoff)
    [brk] = await world.breaks(first.id)
    again = await world.run(cutoff)
    assert await world.breaks(again.id) == [brk]  # same row, not even touched

    async with world.factory() as s, s.begin():  # the platform record is corrected
        await s.execute(text("UPDATE trading_balance_operations SET amount = amount - 0.01 WHERE server_id = :s"),
                        {"s": world.server_id})
    third = await world.run(cutoff)

    [cleared] = await world.breaks(third.id)
    assert cleared.id == brk.id and cleared.status.value == "cleared" and three_way_breaks(third.summary) == 0


async def test_materialised_balance_drift_is_an_integrity_break(world: World) -> None:
    await world.deposit("40")
    async with world.factory() as s, s.begin():
        await s.execute(text("UPDATE ledger_balances SET balance = balance + 1 WHERE account_id = :a"),
                        {"a": world.wallet_id})
    try:
        run = await world.run()
        drift = [b for b in await world.breaks(run.id) if b.section == "integrity"]
    finally:
        async with world.factory() as s, s.begin():
            await s.execute(text("UPDATE ledger_balances SET balance = balance - 1 WHERE account_id = :a"),
                            {"a": world.wallet_id})

    assert [(b.kind.value, b.key, b.amount_diff) for b in drift] == [
        ("balance_drift", f"account:{world.wallet_id}", Decimal("1"))]
    assert drift[0].evidence["sumOfPostings"] == "40"
