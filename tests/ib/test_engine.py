"""Worked examples for every deal-driven plan kind, amounts computed by hand in the comments."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.ib import plans
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution, Side
from domain.shared.db import in_transaction
from tests.ib.conftest import STAFF, World

D = Decimal


async def make_plan(w: World, distribution: Distribution, clauses: list[ClauseSpec], *, currency: str = "USD",
                    ibs: tuple[int, ...] = ()) -> int:
    async def go(s: Any) -> int:
        pid = await plans.create_plan(s, STAFF, name=f"plan-{w.server_id}-{id(clauses)}", currency=currency)
        await plans.add_version(s, STAFF, pid, distribution=distribution, clauses=clauses,
                                valid_from=w.day - timedelta(days=60), allow_retroactive=True)
        for ib in ibs:
            await plans.assign(s, STAFF, ib, pid, effective_from=w.day - timedelta(days=60), allow_retroactive=True)
        return pid

    return await in_transaction(w.factory, go)


async def test_per_lot_override_pays_each_level_its_rate_minus_the_level_below(world: World) -> None:
    # given master A over sub-IB B; a client of B trading 2 lots (close) of EURUSD
    a = await world.ib()
    b = await world.ib(a)
    login = await world.account(await world.client_of(b))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(7), D(10), D(12)),
                                                              max_total=D(12))], ibs=(b,))
    # when
    out = await world.trade([world.deal(login, volume="2")])
    # then B earns 2 x 7 = 14.00 at level 0, A earns 2 x (10 - 7) = 6.00 at level 1; no third level exists
    assert out.lines == 2
    assert await world.earned(b) == {0: D("14.00")}
    assert await world.earned(a) == {1: D("6.00")}


async def test_per_lot_percent_per_level_with_lot_modifier_and_sides(world: World) -> None:
    # given M > A > B, client of B; $10/lot split 20%/5%/2%; gold counts half a lot and only closing deals
    m = await world.ib()
    a = await world.ib(m)
    b = await world.ib(a)
    login = await world.account(await world.client_of(b))
    await make_plan(world, Distribution.PERCENT, [
        ClauseSpec(ClauseKind.PER_LOT, (D("0.20"), D("0.05"), D("0.02")), base_rate=D(10), max_total=D(10),
                   symbols=("EUR%",)),
        ClauseSpec(ClauseKind.PER_LOT, (D("0.20"), D("0.05"), D("0.02")), base_rate=D(10), max_total=D(10),
                   symbols=("XAU%",), lot_modifier=D("0.5"), side=Side.CLOSE),
    ], ibs=(b,))
    # when: 1.5 lots EURUSD open, 1.5 lots EURUSD close, 3 lots XAUUSD open (not paid), 3 lots XAUUSD close
    await world.trade([world.deal(login, volume="1.5", entry=0), world.deal(login, volume="1.5", entry=1),
                       world.deal(login, symbol="XAUUSD", volume="3", entry=0),
                       world.deal(login, symbol="XAUUSD", volume="3", entry=1)])
    # then EURUSD: 2 deals x 1.5 x 10 x 20% = 2 x 3.00 = 6.00 for B; 2 x 0.75 for A; 2 x 0.30 for M
    # XAUUSD close: 3 x 0.5 = 1.5 lot-equivalents -> B 3.00, A 0.75, M 0.30
    assert await world.earned(b) == {0: D("9.00")}
    assert await world.earned(a) == {1: D("2.25")}
    assert await world.earned(m) == {2: D("0.90")}


async def test_commission_share_on_raw_accounts_converts_to_the_payout_currency(world: World) -> None:
    # given a EUR raw account (EUR = 1.10 USD) and a standard account; 50% of commission to the IB
    a = await world.ib()
    client = await world.client_of(a)
    raw = await world.account(client, group="real\\raw-eur", currency="EUR")
    std = await world.account(client, group="real\\std")
    await world.sql("INSERT INTO trading_usd_rates (currency, valid_from, rate) VALUES ('EUR', :t, 1.1) "
                    "ON CONFLICT DO NOTHING", t=world.day - timedelta(days=400))
    await make_plan(world, Distribution.PERCENT, [ClauseSpec(ClauseKind.COMMISSION_SHARE, (D("0.5"),),
                                                             account_groups=("real\\raw%",))], ibs=(a,))
    # when
    await world.trade([world.deal(raw, commission="-7"), world.deal(std, commission="-7")])
    # then only the raw deal pays: |-7 EUR| x 0.5 x 1.1 = 3.85 USD, with the rate recorded on the line
    assert await world.earned(a) == {0: D("3.85")}
    rows = await world.sql("SELECT fx_rate, formula FROM ib_commission_lines WHERE ib_id = :a", a=a)
    assert rows[0][0] == D("1.1") and "commission" in rows[0][1]


async def test_group_filter_matches_mt5_group_names_with_a_backslash_literally(world: World) -> None:
    # given a raw-commission share for the MT5 group real\raw exactly (a backslash LIKE would read as an escape)
    a = await world.ib()
    client = await world.client_of(a)
    raw = await world.account(client, group="real\\raw")
    lookalike = await world.account(client, group="realraw")
    await make_plan(world, Distribution.PERCENT, [ClauseSpec(ClauseKind.COMMISSION_SHARE, (D("0.5"),),
                                                             account_groups=("real\\raw",))], ibs=(a,))
    # when the real\raw account pays 7 USD commission and the realraw one 9
    await world.trade([world.deal(raw, commission="-7"), world.deal(lookalike, commission="-9")])
    # then only real\raw pays: |-7| x 0.5 = 3.50
    assert await world.earned(a) == {0: D("3.50")}


async def test_spread_markup_share(world: World) -> None:
    # given a markup of 0.5 pip on EURUSD (pip 0.0001, contract 100,000): 2 lots pay 2 x 100000 x 0.5 x 0.0001 = 10
    a = await world.ib()
    login = await world.account(await world.client_of(a))
    await world.sql("INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, contract_size, "
                    "base_currency, quote_currency, digits, pip_size) VALUES (:s, 'EURUSD', 'EURUSD', 'fx', 100000, "
                    "'EUR', 'USD', 5, 0.0001)", s=world.server_id)
    await make_plan(world, Distribution.PERCENT, [ClauseSpec(ClauseKind.SPREAD_SHARE, (D("0.4"),),
                                                             markup_pips=D("0.5"))], ibs=(a,))
    await world.trade([world.deal(login, volume="2")])
    # then 40% of 10.00 = 4.00
    assert await world.earned(a) == {0: D("4.00")}


async def test_filters_min_hold_excluded_symbols_and_payout_flag(world: World) -> None:
    a = await world.ib()
    client = await world.client_of(a)
    login = await world.account(client)
    muted = await world.account(client)
    await world.sql("INSERT INTO ib_account_flags (account_id, commission_enabled) SELECT id, false "
                    "FROM trading_accounts WHERE server_id = :s AND login = :l", s=world.server_id, l=muted)
    await make_plan(world, Distribution.PERCENT, [ClauseSpec(
        ClauseKind.PER_LOT, (D(1),), base_rate=D(5), max_total=D(5), side=Side.CLOSE, min_hold_seconds=60,
        excluded_symbols=("BTCUSD",))], ibs=(a,))
    # when: a scalp (closed after 30 s), a hold of 2 minutes, an excluded symbol, a muted account
    await world.trade([
        world.deal(login, minutes=0, entry=0, position=9001), world.deal(login, minutes=0.5, entry=1, position=9001),
        world.deal(login, minutes=1, entry=0, position=9002), world.deal(login, minutes=3, entry=1, position=9002),
        world.deal(login, minutes=4, entry=0, position=9003, symbol="BTCUSD"),
        world.deal(login, minutes=5, entry=1, position=9003, symbol="BTCUSD"),
        world.deal(muted, minutes=6, entry=1),
    ])
    # then only the 2-minute position's close pays: 1 lot x $5 = 5.00
    assert await world.earned(a) == {0: D("5.00")}


async def test_client_without_ib_gets_no_line_and_rerun_is_idempotent(world: World, session_factory: Any) -> None:
    a = await world.ib()
    login = await world.account(await world.client_of(a))
    orphan = await world.account(await world.user())
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(3),), max_total=D(3))], ibs=(a,))
    batch = await world.ingest([world.deal(login), world.deal(orphan)])
    first = await world.run(batch)
    again = await world.run(batch)
    assert first.fresh and first.lines == 1 and len(first.entry_ids) == 1
    assert not again.fresh and again.entry_ids == first.entry_ids and again.lines == 1
    assert await world.total(a) == D("3.00")
    rows = await world.sql("SELECT count(*) FROM ib_commission_lines WHERE login = :l", l=orphan)
    assert rows[0][0] == 0
    # the payable account holds exactly the lines' total
    async with session_factory() as s:
        bal = await s.scalar(text("SELECT sum(b.balance) FROM ledger_accounts a JOIN ledger_balances b "
                                  "ON b.account_id = a.id WHERE a.purpose = 'ib_payable' AND a.owner_id = :a"),
                             {"a": a})
    assert bal == D("3.00")
