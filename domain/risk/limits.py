"""Exposure limits per symbol and asset class; alerts open when a limit is exceeded, clear when not.

One open alert per (limit, measure) at a time (a partial unique index), so re-evaluating after every
batch is idempotent; opening and clearing are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.events.outbox import emit
from domain.risk.errors import RiskLimitInvalid
from domain.risk.exposure import Dimension, exposure
from domain.shared.actor import Actor
from domain.shared.money import exact_places

TOPIC_ALERT = "risk.limit_alert"
SCOPES = {"symbol": Dimension.SYMBOL, "asset_class": Dimension.ASSET_CLASS}


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
    if not key or len(key) > 32:
        raise RiskLimitInvalid("key must be 1-32 characters", field="key")
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
        before=None if before is None else {"max_net_lots": str(before[0]), "max_notional_usd": str(before[1])},
        after={"scope": scope, "key": key, "max_net_lots": str(max_net_lots),
               "max_notional_usd": str(max_notional_usd)},
    )  # fmt: skip
    return Limit(int(row.id), scope, key, max_net_lots, max_notional_usd)


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


async def list_alerts(session: AsyncSession, *, open_only: bool = True, limit: int = 100) -> list[Alert]:
    rows = await session.execute(text(
        "SELECT a.id, a.limit_id, l.scope, l.key, a.measure, a.observed, a.threshold, a.opened_at, a.cleared_at "
        "FROM risk_alerts a JOIN risk_limits l ON l.id = a.limit_id "
        + ("WHERE a.cleared_at IS NULL " if open_only else "") + "ORDER BY a.opened_at DESC, a.id DESC LIMIT :n"
    ), {"n": limit})  # fmt: skip
    return [Alert(int(r.id), int(r.limit_id), r.scope, r.key, r.measure, r.observed, r.threshold, r.opened_at,
                  r.cleared_at) for r in rows]  # fmt: skip
