"""Exposure limits per symbol, asset class, region or book; alerts open when a limit is exceeded, clear when not.

One open alert per (limit, measure) at a time (a partial unique index), so re-evaluating after every
batch is idempotent; opening and clearing are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.events.outbox import emit
from domain.risk.errors import RiskLimitInvalid, RiskLimitNotFound
from domain.risk.exposure import Dimension, exposure
from domain.risk.regions import country_regions
from domain.shared.actor import Actor
from domain.shared.money import exact_places
from domain.shared.pagination import Page, PageRequest, sql_page

TOPIC_ALERT = "risk.limit_alert"
SCOPES = {"symbol": Dimension.SYMBOL, "asset_class": Dimension.ASSET_CLASS, "region": Dimension.REGION,
          "book": Dimension.BOOK}
BOOK_KEYS = ("A", "B", "HYBRID", "UNMAPPED")  # the keys of the exposure's book breakdown


def _check_key(scope: str, key: str) -> str:
    """The key as the exposure breakdown spells it (regions and books are a closed list)."""
    if scope == "book":
        if key.upper() not in BOOK_KEYS:
            raise RiskLimitInvalid(f"a book limit's key is one of {', '.join(BOOK_KEYS)}", field="key")
        return key.upper()
    if scope == "region":
        regions = sorted(set(country_regions().values()) | {"Unknown"})
        if key not in regions:
            raise RiskLimitInvalid(f"a region limit's key is one of {', '.join(regions)}", field="key")
    return key


@dataclass(frozen=True)
class Limit:
    id: int
    scope: str
    key: str
    max_net_lots: Decimal | None
    max_notional_usd: Decimal | None


@dataclass(frozen=True)
class Alert:
    id: int
    limit_id: int
    scope: str
    key: str
    measure: str
    observed: Decimal
    threshold: Decimal
    opened_at: datetime
    cleared_at: datetime | None


async def set_limit(
    session: AsyncSession, actor: Actor, scope: str, key: str,
    max_net_lots: Decimal | None, max_notional_usd: Decimal | None,
) -> Limit:  # fmt: skip
    if scope not in SCOPES:
        raise RiskLimitInvalid(f"scope must be one of {sorted(SCOPES)}", field="scope")
    key = key.strip()
    if not key or len(key) > 32:
        raise RiskLimitInvalid("key must be 1-32 characters", field="key")
    key = _check_key(scope, key)
    if max_net_lots is None and max_notional_usd is None:
        raise RiskLimitInvalid("give a lot limit, a USD notional limit or both", field="maxNetLots")
    for name, value in (("maxNetLots", max_net_lots), ("maxNotionalUsd", max_notional_usd)):
        if value is not None and (not value.is_finite() or value <= 0):
            raise RiskLimitInvalid("limits must be positive", field=name)
    # Exactly what the columns hold (numeric(24, 8) lots, numeric(24, 2) USD): refused, never rounded.
    if max_net_lots is not None:
        max_net_lots = exact_places(max_net_lots, 8, field="maxNetLots", what="lots", integer_digits=16)
    if max_notional_usd is not None:
        max_notional_usd = exact_places(max_notional_usd, 2, field="maxNotionalUsd", what="USD amounts",
                                        integer_digits=22)
    before = (await session.execute(text(
        "SELECT max_net_lots, max_notional_usd FROM risk_limits WHERE scope = :s AND key = :k FOR UPDATE"
    ), {"s": scope, "k": key})).first()  # fmt: skip
    row = (await session.execute(text(
        "INSERT INTO risk_limits (scope, key, max_net_lots, max_notional_usd) VALUES (:s, :k, :l, :u) "
        "ON CONFLICT (scope, key) DO UPDATE SET max_net_lots = excluded.max_net_lots, "
        "max_notional_usd = excluded.max_notional_usd, updated_at = now() RETURNING id"
    ), {"s": scope, "k": key, "l": max_net_lots, "u": max_notional_usd})).one()  # fmt: skip
    await record(
        session, actor, action="risk.limit_set", entity_type="risk_limit", entity_id=row.id,
        before=None if before is None else {"scope": scope, "key": key, "max_net_lots": _s(before[0]),
                                             "max_notional_usd": _s(before[1])},
        after={"scope": scope, "key": key, "max_net_lots": _s(max_net_lots),
               "max_notional_usd": _s(max_notional_usd)},
    )  # fmt: skip
    return Limit(int(row.id), scope, key, max_net_lots, max_notional_usd)


def _s(value: Decimal | None) -> str | None:
    """As written: the columns' trailing zeros dropped (0.01000000 reads 0.01)."""
    return None if value is None else f"{value.normalize():f}"


async def delete_limit(session: AsyncSession, actor: Actor, limit_id: int) -> Limit:
    """Remove a limit; its open alerts are cleared first (audited as clearings), then go with it."""
    row = (await session.execute(text(
        "SELECT id, scope, key, max_net_lots, max_notional_usd FROM risk_limits WHERE id = :i FOR UPDATE"
    ), {"i": limit_id})).first()  # fmt: skip
    if row is None:
        raise RiskLimitNotFound("not found", field="id")
    lim = Limit(int(row.id), row.scope, row.key, row.max_net_lots, row.max_notional_usd)
    cleared = (await session.execute(text(
        "UPDATE risk_alerts SET cleared_at = now() WHERE limit_id = :i AND cleared_at IS NULL RETURNING id, observed"
    ), {"i": limit_id})).all()  # fmt: skip
    for a in cleared:
        await record(session, actor, action="risk.limit_cleared", entity_type="risk_alert", entity_id=a.id,
                     after={"observed": str(a.observed), "limit_deleted": True})
    await session.execute(text("DELETE FROM risk_limits WHERE id = :i"), {"i": limit_id})
    await record(session, actor, action="risk.limit_deleted", entity_type="risk_limit", entity_id=limit_id,
                 before={"scope": lim.scope, "key": lim.key, "max_net_lots": _s(lim.max_net_lots),
                         "max_notional_usd": _s(lim.max_notional_usd)},
                 after={"open_alerts_cleared": len(cleared)})  # fmt: skip
    return lim


async def limits_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Limit]:
    rows = await session.execute(text(
        "SELECT id, scope, key, max_net_lots, max_notional_usd FROM risk_limits WHERE id = ANY(:ids)"), {"ids": ids})
    return {int(r.id): Limit(int(r.id), r.scope, r.key, r.max_net_lots, r.max_notional_usd) for r in rows}


async def list_limits(session: AsyncSession) -> list[Limit]:
    rows = await session.execute(text(
        "SELECT id, scope, key, max_net_lots, max_notional_usd FROM risk_limits ORDER BY scope, key"))
    return [Limit(int(r.id), r.scope, r.key, r.max_net_lots, r.max_notional_usd) for r in rows]


async def evaluate(session: AsyncSession, actor: Actor) -> list[Alert]:
    """Open alerts for exceeded limits and clear those back within; returns the alerts opened."""
    limits = await list_limits(session)
    if not limits:
        return []
    observed: dict[tuple[str, str, str], Decimal | None] = {}
    for scope, dim in SCOPES.items():
        if not any(lim.scope == scope for lim in limits):
            continue
        for line in (await exposure(session, dim)).lines:
            observed[(scope, line.key, "net_lots")] = abs(line.net_lots)
            observed[(scope, line.key, "notional_usd")] = (
                None if line.notional_usd is None else abs(line.notional_usd))
    opened: list[Alert] = []
    for lim in limits:
        for measure, threshold in (("net_lots", lim.max_net_lots), ("notional_usd", lim.max_notional_usd)):
            if threshold is None:
                continue
            value = observed.get((lim.scope, lim.key, measure), Decimal(0))
            if value is None:
                continue  # unpriced: reported by the exposure query, no verdict on money
            if value > threshold:
                alert = await _open(session, actor, lim, measure, value, threshold)
                if alert is not None:
                    opened.append(alert)
            else:
                await _clear(session, actor, lim.id, measure, value)
    return opened


async def _open(
    session: AsyncSession, actor: Actor, lim: Limit, measure: str, value: Decimal, threshold: Decimal
) -> Alert | None:
    row = (await session.execute(text(
        "INSERT INTO risk_alerts (limit_id, measure, observed, threshold) VALUES (:l, :m, :o, :t) "
        "ON CONFLICT (limit_id, measure) WHERE cleared_at IS NULL DO NOTHING RETURNING id, opened_at"
    ), {"l": lim.id, "m": measure, "o": value, "t": threshold})).first()  # fmt: skip
    if row is None:
        await session.execute(text(
            "UPDATE risk_alerts SET observed = :o WHERE limit_id = :l AND measure = :m AND cleared_at IS NULL"
        ), {"l": lim.id, "m": measure, "o": value})  # fmt: skip
        return None
    payload = {"alert_id": row.id, "scope": lim.scope, "key": lim.key, "measure": measure,
               "observed": str(value), "threshold": str(threshold)}  # fmt: skip
    await record(session, actor, action="risk.limit_exceeded", entity_type="risk_alert", entity_id=row.id,
                 after=payload)
    await emit(session, TOPIC_ALERT, payload)
    return Alert(int(row.id), lim.id, lim.scope, lim.key, measure, value, threshold, row.opened_at, None)


async def _clear(session: AsyncSession, actor: Actor, limit_id: int, measure: str, value: Decimal) -> None:
    row = (await session.execute(text(
        "UPDATE risk_alerts SET cleared_at = now(), observed = :o WHERE limit_id = :l AND measure = :m "
        "AND cleared_at IS NULL RETURNING id"
    ), {"l": limit_id, "m": measure, "o": value})).first()  # fmt: skip
    if row is not None:
        await record(session, actor, action="risk.limit_cleared", entity_type="risk_alert", entity_id=row.id,
                     after={"observed": str(value)})


_ALERT_COLUMNS = "a.id, a.limit_id, l.scope, l.key, a.measure, a.observed, a.threshold, a.opened_at, a.cleared_at"
_ALERT_SOURCE = "risk_alerts a JOIN risk_limits l ON l.id = a.limit_id"


def _alert(r: Any) -> Alert:
    return Alert(int(r.id), int(r.limit_id), r.scope, r.key, r.measure, r.observed, r.threshold, r.opened_at,
                 r.cleared_at)


async def list_alerts(session: AsyncSession, page: PageRequest, *, open_only: bool = True) -> Page[Alert]:
    """Alerts newest first (the open ones, or every one)."""
    return await sql_page(
        session, page, columns=_ALERT_COLUMNS, source=_ALERT_SOURCE,
        where=["a.cleared_at IS NULL"] if open_only else [], params={}, key=("a.opened_at", "a.id"), descending=True,
        convert=_alert)


async def alerts_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Alert]:
    query = f"SELECT {_ALERT_COLUMNS} FROM {_ALERT_SOURCE} WHERE a.id = ANY(:ids)"  # noqa: S608
    rows = (await session.execute(text(query), {"ids": ids})).all()
    return {a.id: a for a in map(_alert, rows)}
