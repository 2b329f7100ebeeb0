"""The TradingPlatform port over the MT4 sidecar contract (docs/platforms/mt4-sidecar.md)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.platforms.errors import AccountNotFound, PlatformProtocolError
from domain.platforms.external_id import external_id_tag
from domain.platforms.mt4.client import OperationNotFound, SidecarClient, SidecarCredentials
from domain.platforms.port import (
    AccountInfo,
    AccountRights,
    AccountState,
    BalanceOpKind,
    BalanceOpResult,
    Deal,
    DealAction,
    DealCursor,
    DealEntry,
    DealPage,
    GroupSpec,
    NewAccount,
    OrderRequestPage,
    Position,
    PositionSide,
    SymbolSpec,
    ms_from_utc,
    utc_from_ms,
)
from domain.shared.errors import InvalidAmount

PAGE_MAX = 1000
_SIGNED = frozenset({BalanceOpKind.CORRECTION, BalanceOpKind.BONUS})
_SIGN = {BalanceOpKind.WITHDRAWAL: -1, BalanceOpKind.CREDIT_OUT: -1, BalanceOpKind.CHARGE: -1}
_ACTIONS = {"buy": DealAction.BUY, "sell": DealAction.SELL, "balance": DealAction.BALANCE,
            "credit": DealAction.CREDIT, "charge": DealAction.CHARGE, "correction": DealAction.CORRECTION,
            "bonus": DealAction.BONUS}
_ENTRIES = {"in": DealEntry.IN, "out": DealEntry.OUT, "none": DealEntry.IN}
_RIGHTS = {AccountRights.ENABLED: "enabled", AccountRights.TRADE_DISABLED: "trade_disabled",
           AccountRights.READ_ONLY: "read_only", AccountRights.DISABLED: "disabled"}
_RIGHTS_BACK = {v: k for k, v in _RIGHTS.items()}


def _dec(obj: dict[str, Any], key: str, default: Decimal | None = None) -> Decimal:
    value = obj.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise PlatformProtocolError(f"MT4 sidecar answer lacks {key}")
    if isinstance(value, bool | float) or not isinstance(value, str | int):
        raise PlatformProtocolError(f"MT4 sidecar field {key}: a decimal string expected")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise PlatformProtocolError(f"MT4 sidecar field {key} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise PlatformProtocolError(f"MT4 sidecar field {key} is not finite")
    return result


def _int(obj: dict[str, Any], key: str, default: int | None = None) -> int:
    value = obj.get(key)
    if value is None:
        if default is not None:
            return default
        raise PlatformProtocolError(f"MT4 sidecar answer lacks {key}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlatformProtocolError(f"MT4 sidecar field {key}: an integer expected")
    return value


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PlatformProtocolError(f"MT4 sidecar answer lacks the object {key}")
    return value


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PlatformProtocolError(f"MT4 sidecar answer lacks the list {key}")
    return value


def account_info(a: dict[str, Any]) -> AccountInfo:
    registered = _int(a, "registered_ms", 0)
    rights = _RIGHTS_BACK.get(str(a.get("rights")))
    if rights is None:
        raise PlatformProtocolError(f"MT4 sidecar: unknown rights {a.get('rights')!r}")
    return AccountInfo(login=_int(a, "login"), group=str(a.get("group", "")), leverage=_int(a, "leverage"),
                       rights=rights, name=str(a.get("name", "")), email=str(a.get("email", "")),
                       country=str(a.get("country", "")),
                       registered_at=utc_from_ms(registered) if registered else None, raw=a)


def deal(d: dict[str, Any]) -> Deal:
    action_name = str(d.get("action", ""))
    known = _ACTIONS.get(action_name)
    other = action_name.removeprefix("other:")
    # A future or unmapped operation is kept, with its number when the sidecar gives one.
    action = int(known) if known is not None else int(other) if other.isdigit() else -1
    time_ms = _int(d, "time_ms")
    external_id = d.get("external_id")
    return Deal(
        deal=_int(d, "deal"), login=_int(d, "login"), order=_int(d, "order", 0), position_id=_int(d, "ticket", 0),
        action=action, entry=int(_ENTRIES.get(str(d.get("entry", "none")), DealEntry.IN)),
        time=utc_from_ms(time_ms), time_msc=time_ms, symbol=str(d.get("symbol", "")),
        price=_dec(d, "price", Decimal(0)), volume=_dec(d, "volume", Decimal(0)), profit=_dec(d, "profit", Decimal(0)),
        commission=_dec(d, "commission", Decimal(0)), storage=_dec(d, "swap", Decimal(0)), fee=Decimal(0),
        reason=_int(d, "reason", 0), contract_size=_dec(d, "contract_size", Decimal(0)),
        rate_profit=_dec(d, "rate_profit", Decimal(1)), rate_margin=Decimal(0), comment=str(d.get("comment", "")),
        external_tag=external_id_tag(external_id) if isinstance(external_id, str) and external_id else None, raw=d,
    )  # fmt: skip


def _operation(op: dict[str, Any]) -> BalanceOpResult:
    kind_name = str(op.get("kind", "")).upper()
    time_ms = op.get("time_ms")
    return BalanceOpResult(
        ticket=_int(op, "ticket"), login=_int(op, "login"),
        kind=BalanceOpKind[kind_name] if kind_name in BalanceOpKind.__members__ else None,
        amount=_dec(op, "amount"), comment=str(op.get("comment", "")), external_id=str(op.get("external_id")),
        time=utc_from_ms(time_ms) if isinstance(time_ms, int) else None,
    )  # fmt: skip


def _generated_password() -> str:
    return secrets.token_urlsafe(9) + "Aa1"


class MT4Platform:
    """One MT4 server, reached through its sidecar."""

    def __init__(self, client: SidecarClient) -> None:
        self._client = client

    @classmethod
    def connect(cls, credentials: SidecarCredentials, **client_options: Any) -> MT4Platform:
        return cls(SidecarClient(credentials, **client_options))

    @property
    def client(self) -> SidecarClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def ping(self) -> None:
        await self._client.call("GET", "/v1/ping", resend=True)

    # -- accounts -----------------------------------------------------------------------------------

    async def create_account(self, account: NewAccount) -> AccountInfo:
        body = {
            "login": account.login, "group": account.group, "leverage": account.leverage,
            "rights": _RIGHTS[account.rights], "name": account.name, "email": account.email,
            "country": account.country, "phone": account.phone, "city": account.city, "address": account.address,
            "zip_code": account.zip_code, "comment": account.comment, "lead_source": account.lead_source,
            "password": account.password_main or _generated_password(),
            "investor_password": account.password_investor or _generated_password(),
        }  # fmt: skip
        data = await self._client.call("POST", "/v1/accounts", body=body, resend=False)
        return account_info(_obj(data, "account"))

    async def update_account(self, login: int, *, group: str | None = None, leverage: int | None = None,
                             rights: AccountRights | None = None) -> AccountInfo:
        body = {k: v for k, v in (("group", group), ("leverage", leverage),
                                  ("rights", _RIGHTS[rights] if rights else None)) if v is not None}
        data = await self._client.call("PATCH", f"/v1/accounts/{int(login)}", body=body, resend=True)
        return account_info(_obj(data, "account"))

    async def get_account(self, login: int) -> AccountInfo:
        return account_info(_obj(await self._client.call("GET", f"/v1/accounts/{int(login)}", resend=True), "account"))

    async def get_account_state(self, login: int) -> AccountState:
        s = _obj(await self._client.call("GET", f"/v1/accounts/{int(login)}/state", resend=True), "state")
        return AccountState(
            login=_int(s, "login"), currency=str(s.get("currency", "")), balance=_dec(s, "balance"),
            credit=_dec(s, "credit", Decimal(0)), equity=_dec(s, "equity"), margin=_dec(s, "margin", Decimal(0)),
            margin_free=_dec(s, "margin_free", Decimal(0)), margin_level=_dec(s, "margin_level", Decimal(0)),
            floating_profit=_dec(s, "floating_profit", Decimal(0)),
        )  # fmt: skip

    # -- balance operations -------------------------------------------------------------------------

    async def balance_operation(self, login: int, kind: BalanceOpKind, amount: Decimal, comment: str,
                                external_id: str) -> BalanceOpResult:
        if not amount.is_finite() or amount == 0 or (kind not in _SIGNED and amount < 0):
            raise InvalidAmount(f"invalid amount {amount} for {kind.value}", field="amount")
        body = {"login": login, "kind": kind.value.lower(), "amount": str(amount), "comment": " ".join(comment.split()),
                "external_id": external_id, "check_margin": True}
        # Idempotent by external id: a lost answer is resent and the sidecar answers the first operation.
        data = await self._client.call("POST", "/v1/balance", body=body, resend=True)
        return _operation(_obj(data, "operation"))

    async def find_balance_operation(self, login: int, external_id: str, *,
                                     since: datetime | None = None) -> BalanceOpResult | None:
        try:
            data = await self._client.call("GET", f"/v1/balance/{_quote(external_id)}", resend=True)
        except OperationNotFound:
            return None
        found = _operation(_obj(data, "operation"))
        if found.login != login or (since is not None and found.time is not None and found.time < since):
            return None
        return found

    # -- configuration ------------------------------------------------------------------------------

    async def list_groups(self) -> list[GroupSpec]:
        data = await self._client.call("GET", "/v1/groups", resend=True)
        return [GroupSpec(
            name=str(g["name"]), currency=str(g["currency"]), currency_digits=_int(g, "currency_digits", 2),
            margin_call=_dec(g, "margin_call", Decimal(0)), margin_stop_out=_dec(g, "margin_stop_out", Decimal(0)),
            default_leverage=g.get("default_leverage") if isinstance(g.get("default_leverage"), int) else None,
            commission_per_lot=_dec(g, "commission_per_lot") if g.get("commission_per_lot") else None, raw=g,
        ) for g in _list(data, "groups")]  # fmt: skip

    async def list_symbols(self) -> list[SymbolSpec]:
        data = await self._client.call("GET", "/v1/symbols", resend=True)
        specs = []
        for s in _list(data, "symbols"):
            digits = _int(s, "digits")
            point = _dec(s, "point", Decimal(1).scaleb(-digits))
            specs.append(SymbolSpec(
                symbol=str(s["symbol"]), path=str(s.get("path", "")), digits=digits,
                contract_size=_dec(s, "contract_size"), base_currency=str(s.get("base_currency", "")),
                profit_currency=str(s.get("profit_currency", "")),
                margin_currency=str(s.get("margin_currency") or s.get("base_currency", "")), point=point,
                pip_size=point * 10 if digits in (3, 5) else point, raw=s,
            ))  # fmt: skip
        return specs

    # -- trading data -------------------------------------------------------------------------------

    async def deals_since(self, cursor: DealCursor, limit: int = 1000) -> DealPage:
        """Deals after `cursor`: the contract pages in order, but a client keeps only what is after the
        cursor, once, sorted (rows repeated or out of order in a page cost nothing)."""
        if limit < 1:
            raise ValueError("limit must be positive")
        collected: dict[int, Deal] = {}
        after = cursor
        has_more = True
        while has_more and len(collected) < limit:
            data = await self._client.call("GET", "/v1/deals", {
                "after_time_ms": after.time_ms, "after_deal": after.deal_id,
                "limit": min(PAGE_MAX, limit - len(collected))}, resend=True)  # fmt: skip
            page = [deal(d) for d in _list(data, "deals")]
            collected.update((d.deal, d) for d in page if d.cursor > cursor)
            nxt = _obj(data, "next")
            following = DealCursor(_int(nxt, "time_ms"), _int(nxt, "deal"))
            has_more = data.get("has_more") is True
            if has_more and following <= after:
                raise PlatformProtocolError("MT4 sidecar: a deal page did not advance its cursor")
            after = following
        deals = sorted(collected.values(), key=lambda d: d.cursor)[:limit]
        more = has_more or len(collected) > limit
        return DealPage(deals=deals, next_cursor=deals[-1].cursor if deals else cursor, has_more=more)

    async def stream_deals(self, cursor: DealCursor) -> AsyncIterator[Deal]:
        last = cursor
        async for raw in self._client.stream("/v1/deals/stream",
                                              {"after_time_ms": cursor.time_ms, "after_deal": cursor.deal_id}):
            d = deal(raw)
            if d.cursor > last:  # a repeat after a reconnect is not delivered twice
                last = d.cursor
                yield d

    async def deal_totals(self, start: datetime, end: datetime) -> int:
        data = await self._client.call("GET", "/v1/deals/count", {
            "from_ms": ms_from_utc(start), "to_ms": ms_from_utc(end)}, resend=True)  # fmt: skip
        return _int(data, "count")

    async def order_requests_since(self, cursor: DealCursor, limit: int = 1000) -> OrderRequestPage | None:
        return None  # the contract does not carry MT4's order history

    async def open_positions(self, logins: Sequence[int] | None = None) -> list[Position]:
        if logins is not None and not logins:
            return []
        params = {"logins": ",".join(str(int(x)) for x in logins)} if logins is not None else None
        try:
            data = await self._client.call("GET", "/v1/positions", params, resend=True)
        except AccountNotFound:
            return []
        return [Position(
            position=_int(p, "ticket"), login=_int(p, "login"), symbol=str(p["symbol"]),
            side=PositionSide.BUY if p.get("side") == "buy" else PositionSide.SELL, volume=_dec(p, "volume"),
            price_open=_dec(p, "open_price"), price_current=_dec(p, "current_price", Decimal(0)),
            profit=_dec(p, "profit", Decimal(0)), storage=_dec(p, "swap", Decimal(0)),
            contract_size=_dec(p, "contract_size", Decimal(0)), opened_at=utc_from_ms(_int(p, "open_time_ms")),
            updated_at=utc_from_ms(_int(p, "update_time_ms")), comment=str(p.get("comment", "")), raw=p,
        ) for p in _list(data, "positions")]  # fmt: skip


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
