"""The MT5 Web API implementation of the TradingPlatform port."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.platforms.errors import AccountNotFound, InvalidGroup
from domain.platforms.external_id import build_comment, comment_matches
from domain.platforms.mt5 import retcodes, wire
from domain.platforms.mt5.client import MT5Answer, MT5Credentials, MT5WebAPIClient
from domain.platforms.port import (
    AccountInfo,
    AccountRights,
    AccountState,
    BalanceOpKind,
    BalanceOpResult,
    Deal,
    DealCursor,
    DealPage,
    GroupSpec,
    NewAccount,
    OrderRequest,
    OrderRequestPage,
    Position,
    SymbolSpec,
    ms_from_utc,
)
from domain.shared.errors import InvalidAmount

PAGE_SIZE = 100  # MT5 serves at most 100 records per get_page request
ALL_GROUPS = "*"
# MT5 server time runs in the broker's time zone, usually ahead of UTC: look a little into the future.
_FUTURE_SLACK_S = 2 * 86_400
# history/get_page selects orders by setup time, but a pending order enters the history when it ends:
# each read looks back this far so pending orders that lived up to this long are not skipped.
PENDING_LOOKBACK_S = 300

# kind -> (MT5 deal action for trade/balance, sign applied to the positive amount; 0 = signed amount)
_BALANCE_TYPES: dict[BalanceOpKind, tuple[int, int]] = {
    BalanceOpKind.DEPOSIT: (2, 1),
    BalanceOpKind.WITHDRAWAL: (2, -1),
    BalanceOpKind.CREDIT_IN: (3, 1),
    BalanceOpKind.CREDIT_OUT: (3, -1),
    BalanceOpKind.CHARGE: (4, -1),
    BalanceOpKind.CORRECTION: (5, 0),
    BalanceOpKind.BONUS: (6, 0),
}
_BALANCE_ACTIONS = frozenset(action for action, _ in _BALANCE_TYPES.values())


def _kind_of(action: int, amount: Decimal) -> BalanceOpKind | None:
    if action == 2:
        return BalanceOpKind.DEPOSIT if amount >= 0 else BalanceOpKind.WITHDRAWAL
    if action == 3:
        return BalanceOpKind.CREDIT_IN if amount >= 0 else BalanceOpKind.CREDIT_OUT
    return {4: BalanceOpKind.CHARGE, 5: BalanceOpKind.CORRECTION, 6: BalanceOpKind.BONUS}.get(action)


def _generated_password() -> str:
    # MT5 demands upper, lower, digit and special characters.
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{core}Aa1!"


class MT5Platform:
    """TradingPlatform over the MT5 Web API. One instance = one trading server."""

    def __init__(self, client: MT5WebAPIClient) -> None:
        self._client = client
        self._group_currency: dict[str, str] = {}

    @classmethod
    def connect(cls, credentials: MT5Credentials, **client_options: Any) -> MT5Platform:
        return cls(MT5WebAPIClient(credentials, **client_options))

    @property
    def client(self) -> MT5WebAPIClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- accounts -------------------------------------------------------------------------------

    async def create_account(self, account: NewAccount) -> AccountInfo:
        await self._require_group(account.group)
        user: dict[str, Any] = {
            "Login": account.login or 0,
            "Group": account.group,
            "Leverage": account.leverage,
            "Rights": wire.rights_to_mt5(account.rights),
            "Name": account.name,
            "EMail": account.email,
            "Country": account.country,
            "Phone": account.phone,
            "City": account.city,
            "Address": account.address,
            "ZipCode": account.zip_code,
            "Comment": account.comment,
            "LeadSource": account.lead_source,
            "PassMain": account.password_main or _generated_password(),
            "PassInvestor": account.password_investor or _generated_password(),
        }
        result = await self._client.post("user/add", None, user)
        self._raise_unless_ok(result, "user/add", account.login)
        return wire.account_info(wire.expect_object(result.answer(), "user/add"))

    async def update_account(
        self,
        login: int,
        *,
        group: str | None = None,
        leverage: int | None = None,
        rights: AccountRights | None = None,
    ) -> AccountInfo:
        current = await self._user(login)
        if group is not None:
            await self._require_group(group)
        changes: dict[str, Any] = {"Login": login}
        if group is not None:
            changes["Group"] = group
        if leverage is not None:
            changes["Leverage"] = leverage
        if rights is not None:
            changes["Rights"] = wire.rights_to_mt5(
                rights, wire.integer(current, "Rights", wire.USER_RIGHTS_DEFAULT)
            )
        result = await self._client.post("user/update", {"login": login}, changes)
        self._raise_unless_ok(result, "user/update", login)
        return wire.account_info(wire.expect_object(result.answer(), "user/update"))

    async def get_account(self, login: int) -> AccountInfo:
        return wire.account_info(await self._user(login))

    async def get_account_state(self, login: int) -> AccountState:
        user = await self._user(login)
        currency = await self._currency_of(wire.text(user, "Group"))
        result = await self._client.get("user/account/get", {"login": login})
        self._raise_unless_ok(result, "user/account/get", login)
        return wire.account_state(wire.expect_object(result.answer(), "user/account/get"), currency)

    # -- balance operations ---------------------------------------------------------------------

    async def balance_operation(
        self,
        login: int,
        kind: BalanceOpKind,
        amount: Decimal,
        comment: str,
        external_id: str,
    ) -> BalanceOpResult:
        action, sign = _BALANCE_TYPES[kind]
        if not amount.is_finite() or amount == 0 or (sign != 0 and amount < 0):
            raise InvalidAmount(f"invalid amount {amount} for {kind.value}", field="amount")
        signed = amount * sign if sign else amount
        full_comment = build_comment(external_id, comment)
        result = await self._client.get_write(
            "trade/balance",
            {
                "login": login,
                "type": action,
                "balance": str(signed),
                "comment": full_comment,
                "check_margin": 1,
            },
        )
        self._raise_unless_ok(result, "trade/balance", login)
        answer = wire.expect_object(result.answer(), "trade/balance")
        return BalanceOpResult(
            ticket=wire.integer(answer, "ticket"),
            login=login,
            kind=kind,
            amount=signed,
            comment=full_comment,
            external_id=external_id,
            time=None,
        )

    async def find_balance_operation(
        self, login: int, external_id: str, *, since: datetime | None = None
    ) -> BalanceOpResult | None:
        start_s = ms_from_utc(since) // 1000 if since is not None else 0
        end_s = int(time.time()) + _FUTURE_SLACK_S
        offset = 0
        while True:
            page = await self._deal_page({"login": login}, start_s, end_s, offset)
            for raw in page:
                if wire.integer(raw, "Action") not in _BALANCE_ACTIONS:
                    continue
                if comment_matches(wire.text(raw, "Comment"), external_id):
                    found = wire.deal(raw)
                    return BalanceOpResult(
                        ticket=found.deal,
                        login=found.login,
                        kind=_kind_of(found.action, found.profit),
                        amount=found.profit,
                        comment=found.comment,
                        external_id=external_id,
                        time=found.time,
                    )
            if len(page) < PAGE_SIZE:
                return None
            offset += len(page)

    # -- configuration --------------------------------------------------------------------------

    async def list_groups(self) -> list[GroupSpec]:
        return [wire.group(raw) for raw in await self._enumerate("group")]

    async def list_symbols(self) -> list[SymbolSpec]:
        return [wire.symbol(raw) for raw in await self._enumerate("symbol")]

    # -- trading data ---------------------------------------------------------------------------

    async def deals_since(self, cursor: DealCursor, limit: int = 1000) -> DealPage:
        if limit < 1:
            raise ValueError("limit must be positive")
        # MT5 filters by whole seconds; re-reading the cursor's own second and filtering on
        # (time_msc, deal) keeps deals that share a millisecond or second with the cursor.
        start_s = cursor.time_ms // 1000
        end_s = int(time.time()) + _FUTURE_SLACK_S
        collected: list[Deal] = []
        seen: set[int] = set()
        offset = 0
        exhausted = False
        while len(collected) < limit:
            page = await self._deal_page({"group": ALL_GROUPS}, start_s, end_s, offset)
            fresh = [d for d in map(wire.deal, page) if d.deal not in seen]
            seen.update(d.deal for d in fresh)
            collected.extend(d for d in fresh if d.cursor > cursor)
            # Offsets count rows of a window that may grow while we page: a deal landing ahead of the page
            # shifts every row by one, and the page repeats one we read. Advancing by the rows new to this
            # scan keeps the next page from skipping the row the shift pushed out of this one.
            offset += len(fresh) or len(page)
            if len(page) < PAGE_SIZE:
                exhausted = True
                break
        collected.sort(key=lambda d: (d.time_msc, d.deal))
        deals = collected[:limit]
        has_more = not exhausted or len(collected) > limit
        return DealPage(deals=deals, next_cursor=deals[-1].cursor if deals else cursor, has_more=has_more)

    async def order_requests_since(self, cursor: DealCursor, limit: int = 1000) -> OrderRequestPage | None:
        """Ended orders (history/get_page) after `cursor`, a position by end time and order id (see
        `OrderRequest.cursor`), read from PENDING_LOOKBACK_S before it in setup-time order."""
        if limit < 1:
            raise ValueError("limit must be positive")
        start_s = max(cursor.time_ms // 1000 - PENDING_LOOKBACK_S, 0)
        end_s = int(time.time()) + _FUTURE_SLACK_S
        collected: list[OrderRequest] = []
        offset = 0
        frontier: int | None = None  # setup time of the last order read, when more remain unread
        while True:
            page = [wire.order_request(o) for o in await self._page(
                "history/get_page", {"group": ALL_GROUPS}, start_s, end_s, offset)]  # fmt: skip
            collected.extend(r for r in page if r.cursor > cursor)
            offset += len(page)
            if len(page) < PAGE_SIZE:
                frontier = None
                break
            frontier = page[-1].time_msc
            if sum(r.cursor.time_ms < frontier for r in collected) >= limit:
                break
        if frontier is not None:  # unread orders were set up, so ended, at the frontier or later
            collected = [r for r in collected if r.cursor.time_ms < frontier]
        collected.sort(key=lambda r: (r.cursor.time_ms, r.order))
        requests = collected[:limit]
        has_more = frontier is not None or len(collected) > limit
        return OrderRequestPage(requests, requests[-1].cursor if requests else cursor, has_more)

    async def deal_totals(self, start: datetime, end: datetime) -> int:
        params: dict[str, str | int] = {
            "group": ALL_GROUPS,
            "from": ms_from_utc(start) // 1000,
            "to": ms_from_utc(end) // 1000,
        }
        result = await self._client.get("deal/get_total", params)
        self._raise_unless_ok(result, "deal/get_total")
        return wire.integer(wire.expect_object(result.answer(), "deal/get_total"), "total")

    async def open_positions(self, logins: Sequence[int] | None = None) -> list[Position]:
        selectors: list[dict[str, str | int]] = (
            [{"group": ALL_GROUPS}] if logins is None else [{"login": login} for login in logins]
        )
        positions: list[Position] = []
        for selector in selectors:
            offset = 0
            while True:
                result = await self._client.get(
                    "position/get_page", {**selector, "offset": offset, "total": PAGE_SIZE}
                )
                if result.retcode == retcodes.MT_RET_ERR_NOTFOUND and "login" in selector:
                    break  # unknown login: no positions
                self._raise_unless_ok(result, "position/get_page")
                page = wire.expect_list(result.answer() or [], "position/get_page")
                positions.extend(map(wire.position, page))
                if len(page) < PAGE_SIZE:
                    break
                offset += len(page)
        return positions

    # -- helpers --------------------------------------------------------------------------------

    async def _user(self, login: int) -> dict[str, Any]:
        result = await self._client.get("user/get", {"login": login})
        self._raise_unless_ok(result, "user/get", login)
        return wire.expect_object(result.answer(), "user/get")

    async def _require_group(self, group: str) -> None:
        result = await self._client.get("group/get", {"group": group})
        if result.retcode == retcodes.MT_RET_ERR_NOTFOUND:
            raise InvalidGroup(f"group {group!r} does not exist on the trading server", field="group")
        self._raise_unless_ok(result, "group/get")
        spec = wire.group(wire.expect_object(result.answer(), "group/get"))
        self._group_currency[spec.name] = spec.currency

    async def _currency_of(self, group: str) -> str:
        if group not in self._group_currency:
            await self._require_group(group)
        return self._group_currency[group]

    async def _deal_page(
        self, selector: dict[str, str | int], start_s: int, end_s: int, offset: int
    ) -> list[dict[str, Any]]:
        return await self._page("deal/get_page", selector, start_s, end_s, offset)

    async def _page(
        self, command: str, selector: dict[str, str | int], start_s: int, end_s: int, offset: int
    ) -> list[dict[str, Any]]:
        params = {**selector, "from": start_s, "to": end_s, "offset": offset, "total": PAGE_SIZE}
        result = await self._client.get(command, params)
        if result.retcode == retcodes.MT_RET_ERR_NOTFOUND and "login" in selector:
            raise AccountNotFound(f"MT5 account {selector['login']} not found", field="login")
        self._raise_unless_ok(result, command)
        return wire.expect_list(result.answer() or [], command)

    async def _enumerate(self, kind: str) -> list[dict[str, Any]]:
        total_result = await self._client.get(f"{kind}/total")
        self._raise_unless_ok(total_result, f"{kind}/total")
        total = wire.integer(wire.expect_object(total_result.answer(), f"{kind}/total"), "total")
        items = []
        for index in range(total):
            result = await self._client.get(f"{kind}/next", {"index": index})
            if result.retcode == retcodes.MT_RET_ERR_NOTFOUND:
                break  # deleted while we were enumerating
            self._raise_unless_ok(result, f"{kind}/next")
            items.append(wire.expect_object(result.answer(), f"{kind}/next"))
        return items

    @staticmethod
    def _raise_unless_ok(result: MT5Answer, command: str, login: int | None = None) -> None:
        if result.ok:
            return
        raise retcodes.error_for(result.retcode, command, login=login)
