"""Disputes: an IB (or staff for it) contests one commission line or a period; staff resolve.

The case keeps the explanation as it was when opened (explain_line / explain_period output), so
later adjustments never change what was disputed. Staff accept with an adjustment (a `manual`
adjustment line, posted to the IB's payable like any accrual) or reject with a reason. Every step
is audited.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.accrual import post_accruals
from domain.ib.errors import DisputeNotFound, DisputeNotOpen, IbNotFound
from domain.ib.explain import explain_line, explain_period
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.money import currency as currency_info
from domain.shared.money import quantize_exact
from domain.shared.pagination import Page, PageRequest, sql_page


@dataclass(frozen=True)
class Dispute:
    id: int
    ib_id: int
    line_id: int | None
    period_from: datetime | None
    period_to: datetime | None
    reason: str
    explanation: dict[str, Any]
    status: str
    resolution: str | None
    adjustment_line_id: int | None
    created_at: datetime
    resolved_at: datetime | None


_COLS = ("id, ib_id, line_id, period_from, period_to, reason, explanation, status, resolution, adjustment_line_id, "
         "created_at, resolved_at")


def _dispute(r: Any) -> Dispute:
    m = r._mapping
    return Dispute(int(m["id"]), int(m["ib_id"]), m["line_id"], m["period_from"], m["period_to"], m["reason"],
                   dict(m["explanation"]), m["status"], m["resolution"], m["adjustment_line_id"], m["created_at"],
                   m["resolved_at"])


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not 0 < len(reason) <= 2000:
        raise ValidationFailed("a reason of 1 to 2000 characters is required", field="reason")
    return reason


async def open_dispute(session: AsyncSession, actor: Actor, ib_id: int, *, reason: str, line_id: int | None = None,
                       period_from: datetime | None = None, period_to: datetime | None = None) -> Dispute:
    """A case on one of the IB's own lines, or on a period [from, to) of its lines."""
    reason = _reason(reason)
    if await session.scalar(text("SELECT 1 FROM ib_partners WHERE user_id = :id AND status = 'approved'"),
                            {"id": ib_id}) is None:
        raise IbNotFound("no such IB", field="ibId")
    explanation: dict[str, Any]
    if line_id is not None:
        if period_from is not None or period_to is not None:
            raise ValidationFailed("dispute a line or a period, not both", field="lineId")
        explanation = {"line": asdict(await explain_line(session, line_id, ib_id=ib_id))}
    else:
        if period_from is None or period_to is None or period_from.tzinfo is None or period_to.tzinfo is None \
                or period_to <= period_from:
            raise ValidationFailed("a line or a period (two UTC instants, from before to) is required",
                                   field="period")
        period = asdict(await explain_period(session, ib_id, period_from, period_to))
        depth = int(await session.scalar(text("SELECT visible_depth FROM ib_partners WHERE user_id = :id"),
                                         {"id": ib_id}) or 0)
        for line in period["lines"]:  # as in statements: clients below the visible depth are not named
            if line["level"] > depth:
                line["client_id"] = None
        explanation = {"period": period}
    row = (await session.execute(text(
        f"INSERT INTO ib_disputes (ib_id, line_id, period_from, period_to, reason, explanation, opened_by) "
        f"VALUES (:ib, :l, :f, :t, :r, CAST(:e AS jsonb), :by) RETURNING {_COLS}"),
        {"ib": ib_id, "l": line_id, "f": period_from, "t": period_to, "r": reason, "e": _json(explanation),
         "by": actor.user_id})).one()
    d = _dispute(row)
    await record(session, actor, action="ib.dispute_opened", entity_type="ib_dispute", entity_id=d.id,
                 after={"ib_id": ib_id, "line_id": line_id,
                        "period": [period_from.isoformat(), period_to.isoformat()] if period_from and period_to
                        else None}, reason=reason)
    return d


async def get(session: AsyncSession, dispute_id: int, *, ib_id: int | None = None) -> Dispute:
    row = (await session.execute(text(f"SELECT {_COLS} FROM ib_disputes WHERE id = :id"),
                                 {"id": dispute_id})).first()
    if row is None or (ib_id is not None and int(row.ib_id) != ib_id):
        raise DisputeNotFound("no such dispute", field="disputeId")
    return _dispute(row)


async def by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Dispute]:
    rows = (await session.execute(text(f"SELECT {_COLS} FROM ib_disputes WHERE id = ANY(:ids)"),
                                  {"ids": ids})).all()
    return {d.id: d for d in map(_dispute, rows)}


async def list_disputes(session: AsyncSession, page: PageRequest, *, ib_id: int | None = None,
                        status: str | None = None) -> Page[Dispute]:
    """Newest first, one IB's or all, optionally in one status."""
    where: list[str] = []
    params: dict[str, object] = {}
    if ib_id is not None:
        where.append("ib_id = :ib")
        params["ib"] = ib_id
    if status is not None:
        where.append("status = :st")
        params["st"] = status
    return await sql_page(session, page, columns=_COLS, source="ib_disputes", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_dispute)


async def resolve(session: AsyncSession, actor: Actor, dispute_id: int, *, accept: bool, reason: str,
                  adjustment: Decimal | None = None, currency: str | None = None, now: datetime) -> Dispute:
    """Accept (with a non-zero adjustment for the IB) or reject an open dispute, with a reason."""
    reason = _reason(reason)
    row = (await session.execute(text(f"SELECT {_COLS} FROM ib_disputes WHERE id = :id FOR UPDATE"),
                                 {"id": dispute_id})).first()
    if row is None:
        raise DisputeNotFound("no such dispute", field="disputeId")
    d = _dispute(row)
    if d.status != "open":
        raise DisputeNotOpen("this dispute is already resolved", field="disputeId")
    line_id: int | None = None
    if accept:
        line = None
        if d.line_id is not None:
            line = (await session.execute(text("SELECT * FROM ib_commission_lines WHERE id = :id"),
                                          {"id": d.line_id})).one()._mapping
        cur = currency_info(currency or (line["currency"] if line is not None else "")).code if (
            currency or line is not None) else None
        if cur is None:
            raise ValidationFailed("the adjustment's currency is required", field="currency")
        if adjustment is None:
            raise ValidationFailed("an accepted dispute needs an adjustment", field="adjustment")
        amount = quantize_exact(adjustment, cur, field="adjustment")
        if amount == 0:
            raise ValidationFailed("an accepted dispute needs a non-zero adjustment", field="adjustment")
        line_id = int(await session.scalar(text(
            "INSERT INTO ib_commission_lines (kind, seq, source, reason, deal_time, client_id, ib_id, level, "
            "direct_ib_id, plan_id, plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, "
            "fx_rate, amount, currency) VALUES ('adjustment', 0, 'manual', :r, :now, :client, :ib, :lvl, :direct, "
            ":plan, :ver, :cl, :kind, 'staff adjustment on a dispute', CAST(:inputs AS jsonb), 1, :amt, 1, :amt, "
            ":cur) RETURNING id"),
            {"r": reason, "now": now, "client": line["client_id"] if line is not None else None, "ib": d.ib_id,
             "lvl": line["level"] if line is not None else 0,
             "direct": line["direct_ib_id"] if line is not None else d.ib_id,
             "plan": line["plan_id"] if line is not None else None,
             "ver": line["plan_version_id"] if line is not None else None,
             "cl": line["clause_no"] if line is not None else None,
             "kind": line["clause_kind"] if line is not None else "manual",
             "inputs": _json({"dispute_id": d.id, "line_id": d.line_id, "period_from": d.period_from,
                              "period_to": d.period_to, "adjustment": str(amount), "reason": reason}),
             "amt": amount, "cur": cur}))
        await post_accruals(session, actor, [(d.ib_id, cur, amount)], ref_kind="ib_dispute", ref_id=str(d.id),
                            idempotency_key=f"ib.dispute:{d.id}")
    status = "accepted" if accept else "rejected"
    row = (await session.execute(text(
        "UPDATE ib_disputes SET status = :st, resolution = :r, adjustment_line_id = :l, resolved_by = :by, "
        f"resolved_at = :now WHERE id = :id RETURNING {_COLS}"),
        {"st": status, "r": reason, "l": line_id, "by": actor.user_id, "now": now, "id": d.id})).one()
    await record(session, actor, action=f"ib.dispute_{status}", entity_type="ib_dispute", entity_id=d.id,
                 before={"status": "open"}, after={"status": status, "adjustment_line_id": line_id,
                                                   "adjustment": str(adjustment) if accept else None}, reason=reason)
    return _dispute(row)
