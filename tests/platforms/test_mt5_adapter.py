"""The MT5 adapter end to end over HTTP against the simulator process (no mocks)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from domain.platforms.errors import (
    AccountNotFound,
    InvalidGroup,
    NotEnoughMoney,
    OutcomeUnknown,
    PlatformAuthFailed,
    PlatformProtocolError,
    PlatformUnavailable,
)
from domain.platforms.external_id import COMMENT_MAX
from domain.platforms.mt5.auth_hash import password_hash, rand_answer
from domain.platforms.port import (
    AccountRights,
    BalanceOpKind,
    DealCursor,
    NewAccount,
    PositionSide,
    TradingPlatform,
    utc_from_ms,
)
from tests.platforms.conftest import SimServer, new_funded_account


def test_auth_answer_follows_the_mt5_formula():
    srv_rand = "00112233445566778899aabbccddeeff"
    inner = hashlib.md5("Pässword1".encode("utf-16-le"), usedforsecurity=False).digest()
    expected = hashlib.md5(
        hashlib.md5(inner + b"WebAPI", usedforsecurity=False).digest() + bytes.fromhex(srv_rand),
        usedforsecurity=False,
    ).hexdigest()

    assert rand_answer(password_hash("Pässword1"), srv_rand) == expected


async def test_good_password_authenticates(sim: SimServer):
    platform = sim.platform()
    try:
        assert isinstance(platform, TradingPlatform)
        await platform.client.authenticate()
        groups = await platform.list_groups()
        assert groups
    finally:
        await platform.aclose()


async def test_bad_password_is_refused(sim: SimServer):
    platform = sim.platform(password="Wrong-password-1")
    try:
        with pytest.raises(PlatformAuthFailed) as err:
            await platform.list_groups()
        assert err.value.code == "PLATFORM_AUTH_FAILED"
    finally:
        await platform.aclose()


async def test_injected_auth_failure_is_refused(sim: SimServer):
    sim.ok("POST", "faults", {"fail_auth": 1})
    platform = sim.platform()
    try:
        with pytest.raises(PlatformAuthFailed):
            await platform.list_symbols()
        assert await platform.list_symbols()  # the next handshake succeeds
    finally:
        await platform.aclose()


async def test_create_get_and_update_account(platform):
    created = await platform.create_account(
        NewAccount(
            group="real\\raw", leverage=200, name="Ada Lovelace", email="ada@example.com", country="GB"
        )
    )

    fetched = await platform.get_account(created.login)
    assert (fetched.group, fetched.leverage, fetched.rights) == ("real\\raw", 200, AccountRights.ENABLED)
    assert (fetched.name, fetched.email, fetched.country) == ("Ada Lovelace", "ada@example.com", "GB")
    assert fetched.registered_at is not None and fetched.registered_at.tzinfo is not None

    updated = await platform.update_account(
        created.login, group="real\\standard", leverage=50, rights=AccountRights.READ_ONLY
    )
    assert (updated.group, updated.leverage, updated.rights) == (
        "real\\standard",
        50,
        AccountRights.READ_ONLY,
    )
    again = await platform.update_account(created.login, rights=AccountRights.TRADE_DISABLED)
    assert again.rights is AccountRights.TRADE_DISABLED
    assert (await platform.get_account(created.login)).leverage == 50


async def test_create_with_explicit_login_and_duplicate(platform):
    login = 700_000 + uuid.uuid4().int % 100_000
    created = await platform.create_account(
        NewAccount(group="demo\\standard", leverage=100, name="X", login=login)
    )
    assert created.login == login
    with pytest.raises(Exception) as err:
        await platform.create_account(NewAccount(group="demo\\standard", leverage=100, name="Y", login=login))
    assert getattr(err.value, "code", None) == "PLATFORM_ACCOUNT_EXISTS"


async def test_invalid_group_is_refused_and_creates_nothing(sim: SimServer, platform):
    before = sim.ok("GET", "state")["accounts"]

    with pytest.raises(InvalidGroup) as err:
        await platform.create_account(NewAccount(group="real\\nope", leverage=100, name="Nobody"))

    assert err.value.code == "PLATFORM_INVALID_GROUP"
    assert sim.ok("GET", "state")["accounts"] == before


async def test_unknown_account_is_not_found(platform):
    with pytest.raises(AccountNotFound) as err:
        await platform.get_account(999_999_999)
    assert err.value.code == "PLATFORM_ACCOUNT_NOT_FOUND"
    with pytest.raises(AccountNotFound):
        await platform.balance_operation(999_999_999, BalanceOpKind.DEPOSIT, Decimal(1), "x", "ext-1")


async def test_balance_operations_and_lookup_by_external_id(platform):
    login = await new_funded_account(platform, amount="0")
    deposit_id = str(uuid.uuid4())

    deposit = await platform.balance_operation(
        login, BalanceOpKind.DEPOSIT, Decimal("1500.25"), "Deposit by card ending 4242 via CRM", deposit_id
    )
    await platform.balance_operation(
        login, BalanceOpKind.CREDIT_IN, Decimal("300"), "promo credit", "credit-1"
    )
    await platform.balance_operation(login, BalanceOpKind.WITHDRAWAL, Decimal("200.25"), "withdrawal", "wd-1")
    await platform.balance_operation(login, BalanceOpKind.CREDIT_OUT, Decimal("100"), "credit back", "x" * 64)

    state = await platform.get_account_state(login)
    assert (state.balance, state.credit, state.currency) == (Decimal("1300.00"), Decimal("200.00"), "USD")
    assert state.equity == Decimal("1500.00")
    found = await platform.find_balance_operation(login, deposit_id)
    assert found is not None
    assert (found.ticket, found.amount, found.kind) == (
        deposit.ticket,
        Decimal("1500.25"),
        BalanceOpKind.DEPOSIT,
    )
    assert len(found.comment) <= COMMENT_MAX and found.comment.endswith("Deposit")
    long_id = await platform.find_balance_operation(login, "x" * 64)
    assert (
        long_id is not None
        and long_id.kind is BalanceOpKind.CREDIT_OUT
        and long_id.amount == Decimal("-100.00")
    )
    assert await platform.find_balance_operation(login, str(uuid.uuid4())) is None
    assert (
        await platform.find_balance_operation(login, deposit_id, since=found.time + timedelta(seconds=5))
        is None
    )


async def test_withdrawal_beyond_free_margin_is_refused_and_leaves_no_trace(sim: SimServer, platform):
    login = await new_funded_account(platform, amount="1000")
    sim.ok("POST", "trade", {"login": login, "symbol": "EURUSD", "side": "buy", "lots": "0.5"})
    state = await platform.get_account_state(login)
    assert state.margin > 0

    with pytest.raises(NotEnoughMoney) as err:
        await platform.balance_operation(
            login, BalanceOpKind.WITHDRAWAL, Decimal("999"), "too much", "wd-big"
        )

    assert err.value.code == "PLATFORM_NOT_ENOUGH_MONEY"
    assert (await platform.get_account_state(login)).balance == state.balance
    assert await platform.find_balance_operation(login, "wd-big") is None


async def test_lost_balance_answer_is_outcome_unknown_and_found_by_external_id(sim: SimServer):
    platform = sim.platform(timeout=1.0)
    try:
        login = await new_funded_account(platform, amount="0")
        external_id = str(uuid.uuid4())
        sim.ok("POST", "faults", {"drop_next_balance": True})

        with pytest.raises(OutcomeUnknown) as err:
            await platform.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("250"), "dep", external_id)

        assert err.value.code == "PLATFORM_OUTCOME_UNKNOWN"
        found = await platform.find_balance_operation(
            login, external_id
        )  # re-authenticates on a new connection
        assert found is not None and found.amount == Decimal("250.00")
        assert (await platform.get_account_state(login)).balance == Decimal("250.00")  # applied exactly once
    finally:
        await platform.aclose()


async def test_deal_paging_is_stable_across_deals_sharing_a_millisecond(sim: SimServer, platform):
    login = await new_funded_account(platform, amount="1000000")
    start = (await platform.deals_since(DealCursor.start(), limit=1_000_000)).next_cursor
    opened = sim.ok(
        "POST", "trade", {"login": login, "symbol": "EURUSD", "side": "sell", "lots": "0.01", "count": 70}
    )
    for position in opened["positions"]:
        sim.ok("POST", "close", {"position": position})
    expected_new = 140

    seen, cursor, pages = [], start, 0
    while True:
        page = await platform.deals_since(cursor, limit=37)
        seen.extend(page.deals)
        cursor, pages = page.next_cursor, pages + 1
        if not page.has_more:
            break

    ids = [d.deal for d in seen]
    assert len(ids) == len(set(ids)) == expected_new
    assert pages == 4
    assert [d.cursor for d in seen] == sorted(d.cursor for d in seen)
    assert len({d.time_msc for d in seen}) == 1  # all in one millisecond: only the deal id orders them
    assert {d.position_id for d in seen} == set(opened["positions"])
    assert all(d.volume == Decimal("0.01") and d.login == login for d in seen)
    assert (await platform.deals_since(cursor, limit=10)).deals == []
    ms = seen[0].time_msc
    assert await platform.deal_totals(utc_from_ms(ms), utc_from_ms(ms)) >= expected_new


async def test_deal_totals_match_the_pulled_stream(sim: SimServer, platform):
    sim.ok("POST", "tick", steps=5)
    everything = await platform.deals_since(DealCursor.start(), limit=1_000_000)
    assert not everything.has_more
    first, last = everything.deals[0].time, everything.deals[-1].time

    total = await platform.deal_totals(first - timedelta(seconds=1), last + timedelta(seconds=1))

    assert total == len(everything.deals)


async def test_open_positions_and_account_state(sim: SimServer, platform):
    login = await new_funded_account(platform, amount="50000", group="real\\raw")
    sim.ok("POST", "trade", {"login": login, "symbol": "XAUUSD", "side": "buy", "lots": "0.3"})
    sim.ok("POST", "trade", {"login": login, "symbol": "USDJPY", "side": "sell", "lots": "1.25"})

    mine = await platform.open_positions([login])
    everyone = await platform.open_positions()

    assert sorted((p.symbol, p.side, p.volume) for p in mine) == [
        ("USDJPY", PositionSide.SELL, Decimal("1.25")),
        ("XAUUSD", PositionSide.BUY, Decimal("0.3")),
    ]
    assert {p.position for p in mine} <= {p.position for p in everyone}
    state = await platform.get_account_state(login)
    # raw group: 3.50 per lot per side, rounded per deal: 1.05 + 4.375 -> 4.38
    assert state.balance == Decimal("50000") - Decimal("1.05") - Decimal("4.38")
    assert state.margin > 0 and state.margin_level > 100
    assert state.equity == state.balance + state.floating_profit


async def test_groups_and_symbols(platform):
    groups = {g.name: g for g in await platform.list_groups()}
    symbols = {s.symbol: s for s in await platform.list_symbols()}

    assert groups["real\\raw"].commission_per_lot == Decimal("3.50")
    assert groups["real\\standard"].commission_per_lot is None
    assert groups["real\\standard"].margin_stop_out == Decimal(50)
    assert {"EURUSD", "GBPJPY", "XAUUSD", "US500", "BTCUSD"} <= set(symbols)
    eurusd = symbols["EURUSD"]
    assert (eurusd.digits, eurusd.contract_size, eurusd.base_currency, eurusd.profit_currency) == (
        5, Decimal(100000), "EUR", "USD",
    )  # fmt: skip
    assert (eurusd.point, eurusd.pip_size) == (Decimal("0.00001"), Decimal("0.00010"))
    assert symbols["USDJPY"].pip_size == Decimal("0.010")
    assert symbols["XAUUSD"].path.startswith("Metals")


async def test_truncated_json_is_a_protocol_error(sim: SimServer, platform):
    sim.ok("POST", "faults", {"truncate_next_deal_page": True})

    with pytest.raises(PlatformProtocolError) as err:
        await platform.deals_since(DealCursor.start(), limit=10)

    assert err.value.code == "PLATFORM_PROTOCOL_ERROR"
    assert (await platform.deals_since(DealCursor.start(), limit=10)).deals


async def test_brief_unavailability_is_retried(sim: SimServer, platform):
    await platform.list_groups()
    sim.ok("POST", "faults", {"unavailable": 2})

    assert await platform.list_groups()


async def test_long_unavailability_gives_up_after_bounded_retries(sim: SimServer, platform):
    await platform.list_groups()
    sim.ok("POST", "faults", {"unavailable": 100})
    try:
        with pytest.raises(PlatformUnavailable) as err:
            await platform.list_groups()
        assert err.value.code == "PLATFORM_UNAVAILABLE"
        assert sim.ok("GET", "state")["faults"]["unavailable"] == 97  # 1 try + 2 retries
    finally:
        sim.ok("POST", "faults", {"unavailable": 0})


async def test_session_loss_reauthenticates(sim: SimServer, platform):
    login = await new_funded_account(platform, amount="10")
    sim.ok("POST", "faults", {"drop_sessions": True})

    state = await platform.get_account_state(login)

    assert state.balance == Decimal("10.00")


async def test_trade_disabled_and_read_only_accounts_cannot_trade(sim: SimServer, platform):
    for rights in (AccountRights.TRADE_DISABLED, AccountRights.READ_ONLY):
        login = await new_funded_account(platform, amount="1000")
        await platform.update_account(login, rights=rights)

        status, body = sim.admin("POST", "trade", {"login": login, "symbol": "EURUSD", "lots": "0.1"})

        assert status == 409 and body["retcode"].startswith("10017")
        assert await platform.open_positions([login]) == []


async def test_swaps_accrue_on_rollover(sim: SimServer, platform):
    login = await new_funded_account(platform, amount="100000")
    sim.ok("POST", "trade", {"login": login, "symbol": "EURUSD", "side": "buy", "lots": "1"})

    sim.ok("POST", "tick", steps=25, step_ms=3_600_000)

    [position] = await platform.open_positions([login])
    assert position.storage < 0  # EURUSD long swap is negative
