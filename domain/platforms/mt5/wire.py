"""Parsing MT5 Web API JSON objects (IMTUser, IMTAccount, IMTDeal, IMTPosition, IMTConGroup,
IMTConSymbol) into port dataclasses. MT5 sends most numbers as JSON strings; both forms are accepted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from domain.platforms.errors import PlatformProtocolError
from domain.platforms.external_id import comment_tag
from domain.platforms.port import (
    AccountInfo,
    AccountRights,
    AccountState,
    Deal,
    GroupSpec,
    OrderKind,
    OrderRequest,
    OrderState,
    Position,
    PositionSide,
    SymbolSpec,
    utc_from_ms,
)

# IMTUser::EnUsersRights bits.
USER_RIGHT_ENABLED = 0x0001
USER_RIGHT_PASSWORD = 0x0002
USER_RIGHT_TRADE_DISABLED = 0x0004
USER_RIGHT_EXPERT = 0x0040
USER_RIGHT_REPORTS = 0x0100
USER_RIGHT_READONLY = 0x0200
USER_RIGHTS_DEFAULT = 0x01E3  # enabled, password change, trailing, experts, obsolete, reports

VOLUME_EXT_PER_LOT = Decimal(100_000_000)  # VolumeExt: 1e-8 lot units
VOLUME_PER_LOT = Decimal(10_000)  # Volume: 1e-4 lot units


def dec(obj: dict[str, Any], key: str, default: Decimal | None = None) -> Decimal:
    value = obj.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise PlatformProtocolError(f"MT5 answer lacks {key}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PlatformProtocolError(f"MT5 field {key} is not a number")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise PlatformProtocolError(f"MT5 field {key} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise PlatformProtocolError(f"MT5 field {key} is not finite")
    return result


def integer(obj: dict[str, Any], key: str, default: int | None = None) -> int:
    value = obj.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise PlatformProtocolError(f"MT5 answer lacks {key}")
    try:
        return int(str(value))
    except ValueError as exc:
        raise PlatformProtocolError(f"MT5 field {key} is not an integer: {value!r}") from exc


def text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value)


def expect_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlatformProtocolError(f"MT5 {what}: expected an object in 'answer'")
    return value


def expect_list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PlatformProtocolError(f"MT5 {what}: expected a list of objects in 'answer'")
    return value


def lots(obj: dict[str, Any]) -> Decimal:
    if obj.get("VolumeExt") not in (None, "", "0", 0):
        return dec(obj, "VolumeExt") / VOLUME_EXT_PER_LOT
    return dec(obj, "Volume", Decimal(0)) / VOLUME_PER_LOT


def rights_from_mt5(bits: int) -> AccountRights:
    if not bits & USER_RIGHT_ENABLED:
        return AccountRights.DISABLED
    if bits & USER_RIGHT_READONLY:
        return AccountRights.READ_ONLY
    if bits & USER_RIGHT_TRADE_DISABLED:
        return AccountRights.TRADE_DISABLED
    return AccountRights.ENABLED


def rights_to_mt5(rights: AccountRights, current: int = USER_RIGHTS_DEFAULT) -> int:
    bits = current & ~(USER_RIGHT_TRADE_DISABLED | USER_RIGHT_READONLY | USER_RIGHT_ENABLED)
    if rights is AccountRights.DISABLED:
        return bits
    bits |= USER_RIGHT_ENABLED
    if rights is AccountRights.TRADE_DISABLED:
        bits |= USER_RIGHT_TRADE_DISABLED
    elif rights is AccountRights.READ_ONLY:
        bits |= USER_RIGHT_READONLY
    return bits


def account_info(user: dict[str, Any]) -> AccountInfo:
    registration = integer(user, "Registration", 0)
    return AccountInfo(
        login=integer(user, "Login"),
        group=text(user, "Group"),
        leverage=integer(user, "Leverage"),
        rights=rights_from_mt5(integer(user, "Rights", USER_RIGHTS_DEFAULT)),
        name=text(user, "Name"),
        email=text(user, "EMail") or text(user, "Email"),
        country=text(user, "Country"),
        registered_at=utc_from_ms(registration * 1000) if registration else None,
        raw=user,
    )


def account_state(account: dict[str, Any], currency: str) -> AccountState:
    return AccountState(
        login=integer(account, "Login"),
        currency=currency,
        balance=dec(account, "Balance"),
        credit=dec(account, "Credit", Decimal(0)),
        equity=dec(account, "Equity"),
        margin=dec(account, "Margin", Decimal(0)),
        margin_free=dec(account, "MarginFree", Decimal(0)),
        margin_level=dec(account, "MarginLevel", Decimal(0)),
        floating_profit=dec(account, "Floating", dec(account, "Profit", Decimal(0))),
    )


def deal(obj: dict[str, Any]) -> Deal:
    time_msc = integer(obj, "TimeMsc", integer(obj, "Time", 0) * 1000)
    comment = text(obj, "Comment")
    return Deal(
        deal=integer(obj, "Deal"),
        login=integer(obj, "Login"),
        order=integer(obj, "Order", 0),
        position_id=integer(obj, "PositionID", 0),
        action=integer(obj, "Action"),
        entry=integer(obj, "Entry", 0),
        time=utc_from_ms(time_msc),
        time_msc=time_msc,
        symbol=text(obj, "Symbol"),
        price=dec(obj, "Price", Decimal(0)),
        volume=lots(obj),
        profit=dec(obj, "Profit", Decimal(0)),
        commission=dec(obj, "Commission", Decimal(0)),
        storage=dec(obj, "Storage", Decimal(0)),
        fee=dec(obj, "Fee", Decimal(0)),
        reason=integer(obj, "Reason", 0),
        contract_size=dec(obj, "ContractSize", Decimal(0)),
        rate_profit=dec(obj, "RateProfit", Decimal(1)),
        rate_margin=dec(obj, "RateMargin", Decimal(0)),
        comment=comment,
        external_tag=comment_tag(comment),
        raw=obj,
    )


def position(obj: dict[str, Any]) -> Position:
    action = integer(obj, "Action")
    return Position(
        position=integer(obj, "Position"),
        login=integer(obj, "Login"),
        symbol=text(obj, "Symbol"),
        side=PositionSide.BUY if action == 0 else PositionSide.SELL,
        volume=lots(obj),
        price_open=dec(obj, "PriceOpen"),
        price_current=dec(obj, "PriceCurrent", Decimal(0)),
        profit=dec(obj, "Profit", Decimal(0)),
        storage=dec(obj, "Storage", Decimal(0)),
        contract_size=dec(obj, "ContractSize", Decimal(0)),
        opened_at=utc_from_ms(integer(obj, "TimeCreateMsc", integer(obj, "TimeCreate", 0) * 1000)),
        updated_at=utc_from_ms(integer(obj, "TimeUpdateMsc", integer(obj, "TimeUpdate", 0) * 1000)),
        comment=text(obj, "Comment"),
        raw=obj,
    )


def group(obj: dict[str, Any]) -> GroupSpec:
    per_lot: Decimal | None = None
    commissions = obj.get("Commissions")
    if isinstance(commissions, list):
        for commission in commissions:
            tiers = commission.get("Tiers") if isinstance(commission, dict) else None
            if isinstance(tiers, list) and tiers and isinstance(tiers[0], dict):
                per_lot = dec(tiers[0], "Value", Decimal(0))
                break
    leverage = obj.get("Leverage")
    return GroupSpec(
        name=text(obj, "Group"),
        currency=text(obj, "Currency"),
        currency_digits=integer(obj, "CurrencyDigits", 2),
        margin_call=dec(obj, "MarginCall", Decimal(0)),
        margin_stop_out=dec(obj, "MarginStopOut", Decimal(0)),
        default_leverage=int(str(leverage)) if leverage not in (None, "") else None,
        commission_per_lot=per_lot,
        raw=obj,
    )


def symbol(obj: dict[str, Any]) -> SymbolSpec:
    digits = integer(obj, "Digits")
    point = dec(obj, "Point", Decimal(1).scaleb(-digits))
    # One pip is 10 points on fractional (3/5-digit) quotes, one point otherwise.
    pip = point * 10 if digits in (3, 5) else point
    return SymbolSpec(
        symbol=text(obj, "Symbol"),
        path=text(obj, "Path"),
        digits=digits,
        contract_size=dec(obj, "ContractSize"),
        base_currency=text(obj, "CurrencyBase"),
        profit_currency=text(obj, "CurrencyProfit"),
        margin_currency=text(obj, "CurrencyMargin") or text(obj, "CurrencyBase"),
        point=point,
        pip_size=pip,
        raw=obj,
    )


# IMTOrder::EnOrderState -> the port's states (placed/started/partial orders are not requests that ended).
_ORDER_STATES = {4: OrderState.FILLED, 5: OrderState.REJECTED, 2: OrderState.CANCELED, 6: OrderState.CANCELED}
# IMTOrder::EnOrderType 0-7 alternate buy/sell: market, limit, stop, stop-limit; 8 is close-by.
_ORDER_KINDS = (OrderKind.MARKET, OrderKind.LIMIT, OrderKind.STOP, OrderKind.STOP_LIMIT)


def _kind_and_side(order_type: int) -> tuple[OrderKind, int]:
    if 0 <= order_type < 2 * len(_ORDER_KINDS):
        return _ORDER_KINDS[order_type // 2], order_type % 2
    return OrderKind.OTHER, 0  # close-by or unknown: no side of its own to report


def order_request(obj: dict[str, Any]) -> OrderRequest:
    """An IMTOrder from history/get_page. PriceOrder is the price asked for (0: market, none given;
    a stop order's trigger price); PriceCurrent of a filled order is taken as its execution price.
    Type carries both the kind (market, limit, stop...) and the side."""
    time_msc = integer(obj, "TimeSetupMsc", integer(obj, "TimeSetup", 0) * 1000)
    state = _ORDER_STATES.get(integer(obj, "State", -1), OrderState.OTHER)
    requested = dec(obj, "PriceOrder", Decimal(0))
    executed = dec(obj, "PriceCurrent", Decimal(0))
    volume = dec(obj, "VolumeInitialExt", Decimal(0)) / VOLUME_EXT_PER_LOT or (
        dec(obj, "VolumeInitial", Decimal(0)) / VOLUME_PER_LOT)
    kind, side = _kind_and_side(integer(obj, "Type", 0))
    done_msc = integer(obj, "TimeDoneMsc", 0)
    return OrderRequest(
        order=integer(obj, "Order"),
        login=integer(obj, "Login"),
        time=utc_from_ms(time_msc),
        time_msc=time_msc,
        symbol=text(obj, "Symbol"),
        action=side,
        volume=volume,
        requested_price=requested if requested > 0 else None,
        executed_price=executed if executed > 0 and state is OrderState.FILLED else None,
        state=state,
        position_id=integer(obj, "PositionID", 0),
        comment=text(obj, "Comment"),
        raw=obj,
        kind=kind,
        done_msc=done_msc or None,
    )
