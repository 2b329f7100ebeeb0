"""One conformance suite for every registered trading platform, each against its simulator over its own wire
format (no mocks): accounts in a group with leverage, group and leverage changes, balance operations exactly
once by external id (a lost answer included), the deal cursor through gaps, repeats and out-of-order pages,
pushed deals with the pull as the safety net, positions, wrong credentials, a server down and back."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from decimal import Decimal

import pytest

from domain.platforms import registry
from domain.platforms.errors import (
    AccountNotFound,
    InvalidGroup,
    NotEnoughMoney,
    OutcomeUnknown,
    PlatformAuthFailed,
    PlatformUnavailable,
)
from domain.platforms.external_id import external_id_tag
from domain.platforms.port import (
    AccountRights,
    BalanceOpKind,
    Deal,
    DealAction,
    DealCursor,
    DealStream,
    NewAccount,
    PositionSide,
    TradingPlatform,
)
from tests.platforms.conformance.conftest import SIMULATED
from tests.platforms.conftest import SimServer


async def _funded(platform: TradingPlatform, amount: str = "10000", group: str = "real\\standard") -> int:
    account = await platform.create_account(NewAccount(group=group, leverage=100, name="Conformance Trader"))
    await platform.balance_operation(account.login, BalanceOpKind.DEPOSIT, Decimal(amount), "funding",
                                     secrets.token_hex(8))
    return account.login


async def _end(platform: TradingPlatform) -> DealCursor:
    cursor = DealCursor.start()
    while True:
        page = await platform.deals_since(cursor, 1000)
        cursor = page.next_cursor
        if not page.has_more:
            return cursor


async def _pull(platform: TradingPlatform, cursor: DealCursor, limit: int) -> tuple[list[Deal], DealCursor]:
    deals: list[Deal] = []
    while True:
        page = await platform.deals_since(cursor, limit)
        deals.extend(page.deals)
        cursor = page.next_cursor
        if not page.has_more:
            return deals, cursor


def test_every_registered_platform_has_a_simulator() -> None:
    assert set(registry.names()) == set(SIMULATED)


async def test_open_an_account_in_a_group_with_leverage(server: SimServer, adapter: TradingPlatform) -> None:
    created = await adapter.create_account(NewAccount(group="real\\raw", leverage=200, name="Ada Lovelace",
                                                      email="ada@example.com", country="GB"))
    fetched = await adapter.get_account(created.login)
    assert (fetched.login, fetched.group, fetched.leverage, fetched.rights) == (
        created.login, "real\\raw", 200, AccountRights.ENABLED)
    assert (fetched.name, fetched.email, fetched.country) == ("Ada Lovelace", "ada@example.com", "GB")
    assert fetched.registered_at is not None and fetched.registered_at.tzinfo is not None

    chosen = 800_000 + uuid.uuid4().int % 100_000  # the CRM reserves logins: the server takes the one asked for
    assert (await adapter.create_account(NewAccount(group="demo\\standard", leverage=50, name="X",
                                                    login=chosen))).login == chosen
    with pytest.raises(Exception) as twice:
        await adapter.create_account(NewAccount(group="demo\\standard", leverage=50, name="Y", login=chosen))
    assert getattr(twice.value, "code", None) == "PLATFORM_ACCOUNT_EXISTS"

    before = server.ok("GET", "state")["accounts"]
    with pytest.raises(InvalidGroup) as refused:
        await adapter.create_account(NewAccount(group="real\\nope", leverage=100, name="Nobody"))
    assert (refused.value.code, refused.value.field) == ("PLATFORM_INVALID_GROUP", "group")
    assert server.ok("GET", "state")["accounts"] == before


async def test_change_group_leverage_and_rights(server: SimServer, adapter: TradingPlatform) -> None:
    login = (await adapter.create_account(NewAccount(group="real\\raw", leverage=200, name="Mover"))).login
    moved = await adapter.update_account(login, group="real\\standard", leverage=50)
    assert (moved.group, moved.leverage, moved.rights) == ("real\\standard", 50, AccountRights.ENABLED)
    frozen = await adapter.update_account(login, rights=AccountRights.READ_ONLY)
    assert (frozen.group, frozen.leverage, frozen.rights) == ("real\\standard", 50, AccountRights.READ_ONLY)
    again = await adapter.get_account(login)
    assert (again.group, again.leverage, again.rights) == ("real\\standard", 50, AccountRights.READ_ONLY)

    with pytest.raises(InvalidGroup):
        await adapter.update_account(login, group="real\\nope")
    assert (await adapter.get_account(login)).group == "real\\standard"  # nothing changed
    with pytest.raises(AccountNotFound) as missing:
        await adapter.update_account(999_999_998, leverage=10)
    assert missing.value.code == "PLATFORM_ACCOUNT_NOT_FOUND"


async def test_balance_operations_are_found_by_external_id(server: SimServer, adapter: TradingPlatform) -> None:
    login = (await adapter.create_account(NewAccount(group="real\\standard", leverage=100, name="Payer"))).login
    deposit_id = str(uuid.uuid4())
    deposit = await adapter.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("1500.25"),
                                              "Deposit by card ending 4242 via CRM", deposit_id)
    assert (deposit.login, deposit.amount, deposit.kind) == (login, Decimal("1500.25"), BalanceOpKind.DEPOSIT)
    await adapter.balance_operation(login, BalanceOpKind.CREDIT_IN, Decimal("300"), "promo", "credit-" + deposit_id)
    await adapter.balance_operation(login, BalanceOpKind.WITHDRAWAL, Decimal("200.25"), "out", "wd-" + deposit_id)
    state = await adapter.get_account_state(login)
    assert (state.balance, state.credit, state.currency) == (Decimal("1300.00"), Decimal("300.00"), "USD")

    found = await adapter.find_balance_operation(login, deposit_id)
    assert found is not None and (found.ticket, found.amount, found.kind) == (
        deposit.ticket, Decimal("1500.25"), BalanceOpKind.DEPOSIT)
    assert await adapter.find_balance_operation(login, str(uuid.uuid4())) is None

    with pytest.raises(NotEnoughMoney) as refused:
        await adapter.balance_operation(login, BalanceOpKind.WITHDRAWAL, Decimal("5000"), "too much", "big-" + deposit_id)
    assert refused.value.code == "PLATFORM_NOT_ENOUGH_MONEY"
    assert (await adapter.get_account_state(login)).balance == Decimal("1300.00")
    assert await adapter.find_balance_operation(login, "big-" + deposit_id) is None
    with pytest.raises(AccountNotFound):
        await adapter.balance_operation(999_999_997, BalanceOpKind.DEPOSIT, Decimal(1), "x", "nobody-" + deposit_id)


async def test_a_lost_answer_is_settled_by_the_external_id_exactly_once(server: SimServer) -> None:
    platform = server.adapter(timeout=1.0)
    try:
        login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="Lost"))).login
        start = await _end(platform)
        external_id = str(uuid.uuid4())
        server.ok("POST", "faults", {"drop_next_balance": True})  # applied on the server, the answer lost

        answered = None
        with contextlib.suppress(OutcomeUnknown):  # a platform without server-side idempotency says so
            answered = await platform.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("250"), "dep",
                                                        external_id)
        if not SIMULATED[server.kind].idempotent_balance:
            assert answered is None  # never resent blindly: the caller looks the operation up
        found = await platform.find_balance_operation(login, external_id)
        assert found is not None and found.amount == Decimal("250.00")
        if answered is not None:
            assert answered.ticket == found.ticket
        if SIMULATED[server.kind].idempotent_balance:  # a resend answers the first operation
            resent = await platform.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("250"), "dep", external_id)
            assert resent.ticket == found.ticket
        assert (await platform.get_account_state(login)).balance == Decimal("250.00")  # applied exactly once
        mine = [d for d in (await _pull(platform, start, 1000))[0] if d.login == login]
        assert [(d.deal, d.action, d.profit, d.external_tag) for d in mine] == [
            (found.ticket, DealAction.BALANCE, Decimal("250.00"), external_id_tag(external_id))]
    finally:
        server.ok("POST", "faults", {"drop_next_balance": False})
        await platform.aclose()


async def test_the_deal_cursor_survives_gaps_repeats_and_out_of_order_pages(
        server: SimServer, adapter: TradingPlatform) -> None:
    login = await _funded(adapter, "1000000")
    start = await _end(adapter)
    server.ok("POST", "gap", {"deals": 5})
    opened = server.ok("POST", "trade", {"login": login, "symbol": "EURUSD", "side": "sell", "lots": "0.01",
                                         "count": 100})["positions"]
    for position in opened[:50]:
        server.ok("POST", "close", {"position": position})
    server.ok("POST", "gap", {"deals": 17})
    for position in opened[50:]:
        server.ok("POST", "close", {"position": position})
    pulls = []
    for limit in (37, 1000):  # small pages, and the puller's, each read through faulty pages
        try:
            server.ok("POST", "faults", {"shuffle_deal_pages": 4, "repeat_deal_rows": 4})
            pulls.append(await _pull(adapter, start, limit))
        finally:
            server.ok("POST", "faults", {"shuffle_deal_pages": 0, "repeat_deal_rows": 0})
    (seen, end), (whole, _) = pulls
    assert [d.deal for d in whole] == [d.deal for d in seen]

    ids = [d.deal for d in seen]
    assert len(ids) == len(set(ids)) == 200  # each deal once: none repeated, none lost
    assert [d.cursor for d in seen] == sorted(d.cursor for d in seen)
    assert {d.login for d in seen} == {login} and {d.position_id for d in seen} == set(opened)
    assert max(ids) - min(ids) + 1 == 200 + 17  # the ids run through a gap
    assert all(d.volume == Decimal("0.01") and d.symbol == "EURUSD" for d in seen)
    assert sorted((d.entry, d.action) for d in seen) == sorted([(0, 1)] * 100 + [(1, 0)] * 100)
    clean, _ = await _pull(adapter, start, 1000)  # the same stream read without faults
    assert [d.deal for d in clean] == ids
    assert (await adapter.deals_since(end, 10)).deals == []
    assert await adapter.deal_totals(seen[0].time, seen[-1].time) >= 200


async def test_pushed_deals_with_the_pull_as_safety_net(server: SimServer, adapter: TradingPlatform) -> None:
    if not SIMULATED[server.kind].pushes:  # MT5's Web API pushes nothing: its deals come by the pull alone
        assert not isinstance(adapter, DealStream)
        return
    assert isinstance(adapter, DealStream)
    login = await _funded(adapter, "100000")
    start = await _end(adapter)
    received: asyncio.Queue[tuple[float, Deal]] = asyncio.Queue()
    ended: list[BaseException] = []

    async def listen(cursor: DealCursor) -> None:
        try:
            async for deal in adapter.stream_deals(cursor):
                await received.put((time.monotonic(), deal))
        except PlatformUnavailable as exc:
            ended.append(exc)

    listener = asyncio.create_task(listen(start))
    try:
        lags = []
        for _ in range(3):
            sent = time.monotonic()
            [position] = server.ok("POST", "trade", {"login": login, "symbol": "GBPUSD", "lots": "0.1"})["positions"]
            at, deal = await asyncio.wait_for(received.get(), 5)
            lags.append(at - sent)
            assert (deal.login, deal.position_id, deal.entry) == (login, position, 0)
        assert max(lags) < 1.0, lags  # a fill reaches the CRM within a second
        last = deal.cursor

        server.ok("POST", "faults", {"drop_streams": True})  # the stream is cut ...
        await asyncio.wait_for(listener, 5)
        assert ended and isinstance(ended[0], PlatformUnavailable)
        closed = [server.ok("POST", "close", {"position": p.position})["deal"]
                  for p in await adapter.open_positions([login])]  # ... while these happen
        assert len(closed) == 3
        missed, _ = await _pull(adapter, last, 1000)  # the pull from the last pushed deal finds them
        assert [d.deal for d in missed if d.login == login] == closed
        listener = asyncio.create_task(listen(last))  # and the stream resumes from there, no repeats
        again = [(await asyncio.wait_for(received.get(), 5))[1].deal for _ in closed]
        assert again == closed and received.empty()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def test_positions(server: SimServer, adapter: TradingPlatform) -> None:
    login = await _funded(adapter, "50000", group="real\\raw")
    server.ok("POST", "trade", {"login": login, "symbol": "XAUUSD", "side": "buy", "lots": "0.3"})
    server.ok("POST", "trade", {"login": login, "symbol": "USDJPY", "side": "sell", "lots": "1.25"})
    mine = await adapter.open_positions([login])
    assert sorted((p.login, p.symbol, p.side, p.volume) for p in mine) == [
        (login, "USDJPY", PositionSide.SELL, Decimal("1.25")), (login, "XAUUSD", PositionSide.BUY, Decimal("0.3"))]
    assert all(p.price_open > 0 and p.contract_size > 0 and p.opened_at.tzinfo is not None for p in mine)
    assert {p.position for p in mine} <= {p.position for p in await adapter.open_positions()}
    assert await adapter.open_positions([999_999_996]) == []
    state = await adapter.get_account_state(login)
    assert state.margin > 0 and state.equity == state.balance + state.floating_profit


async def test_groups_and_symbols(adapter: TradingPlatform) -> None:
    groups = {g.name: g for g in await adapter.list_groups()}
    assert groups["real\\raw"].commission_per_lot == Decimal("3.50")
    assert groups["real\\standard"].commission_per_lot is None and groups["real\\standard"].currency == "USD"
    symbols = {s.symbol: s for s in await adapter.list_symbols()}
    eurusd = symbols["EURUSD"]
    assert (eurusd.digits, eurusd.contract_size, eurusd.point, eurusd.pip_size) == (
        5, Decimal(100000), Decimal("0.00001"), Decimal("0.00010"))


async def test_wrong_credentials_are_typed(server: SimServer) -> None:
    kind = registry.platform_kind(server.kind)
    wrong = server.adapter(password="Wrong-password-1")
    try:
        with pytest.raises(PlatformAuthFailed) as refused:
            await wrong.list_groups()
        assert refused.value.code == "PLATFORM_AUTH_FAILED"
    finally:
        await wrong.aclose()
    with pytest.raises(PlatformAuthFailed):
        await kind.verify(server.connection("Wrong-password-1"), timeout_s=3)
    await kind.verify(server.connection(), timeout_s=3)
    server.ok("POST", "faults", {"fail_auth": 1})  # refused once even with the right password, then fine
    right = server.adapter()
    try:
        with pytest.raises(PlatformAuthFailed):
            await right.list_groups()
        assert await right.list_groups()
    finally:
        await right.aclose()


async def test_a_server_down_and_back(server: SimServer, adapter: TradingPlatform) -> None:
    login = await _funded(adapter, "700")
    server.ok("POST", "faults", {"unavailable": 2})  # a brief refusal is retried
    assert (await adapter.get_account_state(login)).balance == Decimal("700.00")

    server.stop()
    try:
        with pytest.raises(PlatformUnavailable) as down:
            await adapter.get_account(login)
        assert down.value.code == "PLATFORM_UNAVAILABLE"
        with pytest.raises(PlatformUnavailable):
            await registry.platform_kind(server.kind).verify(server.connection(), timeout_s=2)
    finally:
        server.start()
    # The same adapter carries on (signing in again where the platform binds sessions to connections).
    assert (await adapter.get_account_state(login)).balance == Decimal("700.00")
    deposit = await adapter.balance_operation(login, BalanceOpKind.DEPOSIT, Decimal("1"), "after", str(uuid.uuid4()))
    assert deposit.amount == Decimal("1")
