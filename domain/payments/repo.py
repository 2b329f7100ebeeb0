"""Payment rows: reading, locking and status changes (each change audited and announced)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.events.outbox import emit
from domain.payments.errors import PaymentNotFound
from domain.payments.reference import new_reference
from domain.payments.status import Status, check_move
from domain.shared.actor import Actor
from domain.shared.money import at_scale
from domain.shared.pagination import Page, PageRequest, sql_page
from domain.webhooks import catalogue as webhooks

TOPIC_PAYMENT_UPDATED = "payment.updated"


@dataclass(frozen=True)
class Payment:
    id: int
    reference: str
    user_id: int
    direction: str
    method_code: str
    method_kind: str
    provider: str
    provider_payment_id: str | None
    currency: str
    amount: Decimal
    fee: Decimal
    country: str | None
    status: Status
    approval: str | None
    redirect_url: str | None
    hold_id: int | None
    entry_id: int | None
    payer_name: str | None
    card_bin_country: str | None
    instrument: str | None
    destination: dict[str, Any]
    failure_reason: str | None
    correlation_id: uuid.UUID
    requested_by: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def net(self) -> Decimal:
        return self.amount - self.fee


_COLS = ("id, reference, user_id, direction, method_code, method_kind, provider, provider_payment_id, currency, "
         "amount, fee, country, status, approval, redirect_url, hold_id, entry_id, payer_name, card_bin_country, "
         "instrument, destination, failure_reason, correlation_id, requested_by, created_at, updated_at")


def _row(r: Any) -> Payment:
    m = dict(r._mapping)
    m["status"] = Status(m["status"])
    m["amount"], m["fee"] = Decimal(m["amount"]), Decimal(m["fee"])
    return Payment(**m)


async def insert(session: AsyncSession, *, user_id: int, direction: str, method_code: str, method_kind: str,
                 provider: str, currency: str, amount: Decimal, fee: Decimal, country: str | None,
                 approval: str | None = None, destination: dict[str, Any] | None = None,
                 instrument: str | None = None, requested_by: int | None = None) -> Payment:
    import orjson

    row = (await session.execute(text(
        "INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, "  # noqa: S608
        "fee, country, approval, destination, instrument, correlation_id, requested_by) VALUES (:ref, :uid, :dir, "
        ":mc, :mk, :prov, :cur, :amt, :fee, :country, :appr, CAST(:dest AS jsonb), :inst, :corr, :rb) "
        f"RETURNING {_COLS}"),
        {"ref": new_reference(direction), "uid": user_id, "dir": direction, "mc": method_code, "mk": method_kind,
         "prov": provider, "cur": currency, "amt": amount, "fee": fee, "country": country, "appr": approval,
         "dest": orjson.dumps(destination or {}).decode(), "inst": instrument, "corr": uuid.uuid4(),
         "rb": requested_by})).one()
    return _row(row)


async def get(session: AsyncSession, payment_id: int, *, lock: bool = False) -> Payment | None:
    sql = f"SELECT {_COLS} FROM payments WHERE id = :id" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = (await session.execute(text(sql), {"id": payment_id})).first()
    return _row(row) if row is not None else None


async def get_many(session: AsyncSession, ids: Sequence[int]) -> dict[int, Payment]:
    rows = (await session.execute(text(f"SELECT {_COLS} FROM payments WHERE id = ANY(:ids)"),  # noqa: S608
                                  {"ids": list(ids)})).all()
    return {p.id: p for p in map(_row, rows)}


async def visible_to(session: AsyncSession, actor: Actor, payment: Payment) -> bool:
    """The owner, or staff with payments.read who may see the payment's client (desk scoping)."""
    from domain.clients.access import staff_sees_owner

    if actor.user_id is not None and payment.user_id == actor.user_id:
        return True
    return actor.has("payments.read") and await staff_sees_owner(session, actor, payment.user_id)


async def get_visible(session: AsyncSession, actor: Actor, payment_id: int) -> Payment:
    """The payment if `visible_to` the actor; otherwise not found."""
    payment = await get(session, payment_id)
    if payment is None or not await visible_to(session, actor, payment):
        raise PaymentNotFound("no such payment", field="id")
    return payment


async def by_provider_id(session: AsyncSession, provider: str, provider_payment_id: str) -> Payment | None:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM payments WHERE provider = :p AND provider_payment_id = :pid FOR UPDATE"),  # noqa: S608
        {"p": provider, "pid": provider_payment_id})).first()
    return _row(row) if row is not None else None


async def by_reference(session: AsyncSession, reference: str) -> Payment | None:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM payments WHERE reference = :r FOR UPDATE"), {"r": reference})).first()  # noqa: S608
    return _row(row) if row is not None else None


async def update(session: AsyncSession, payment: Payment, **fields: Any) -> Payment:
    sets = ", ".join(f"{k} = :{k}" for k in fields)  # keys are code-supplied column names
    row = (await session.execute(text(
        f"UPDATE payments SET {sets}, updated_at = now() WHERE id = :id RETURNING {_COLS}"),  # noqa: S608
        {**fields, "id": payment.id})).one()
    return _row(row)


async def announce(session: AsyncSession, payment: Payment) -> None:
    await emit(session, TOPIC_PAYMENT_UPDATED, {
        "user_id": payment.user_id, "payment_id": payment.id, "reference": payment.reference,
        "status": payment.status.value, "direction": payment.direction, "amount": str(payment.amount),
        "currency": payment.currency})
    if payment.status is Status.SUCCEEDED and payment.direction in ("deposit", "withdrawal"):
        await webhooks.publish(
            session, "payment.deposit_credited" if payment.direction == "deposit" else "payment.withdrawal_paid",
            {"payment_id": payment.id, "reference": payment.reference, "user_id": payment.user_id,
             "amount": str(at_scale(payment.amount, payment.currency)), "currency": payment.currency,
             "status": payment.status.value})


async def move(session: AsyncSession, actor: Actor, payment: Payment, target: Status, *, reason: str | None = None,
               **fields: Any) -> Payment:
    """Change status along the machine (refusing invalid moves), audited and announced."""
    check_move(payment.status, target)
    if reason is not None:
        fields["failure_reason"] = reason
    updated = await update(session, payment, status=target.value, **fields)
    await audit.record(session, actor, action=f"payment.{target.value}", entity_type="payment", entity_id=payment.id,
                       before={"status": payment.status.value}, after={"status": target.value}, reason=reason,
                       category="payments")
    await announce(session, updated)
    return updated


async def list_for_user(session: AsyncSession, user_id: int, page: PageRequest, *,
                        statuses: list[str] | None = None, direction: str | None = None) -> Page[Payment]:
    """The user's payments newest first, optionally only some statuses or one direction."""
    params: dict[str, Any] = {"uid": user_id}
    where = ["user_id = :uid"]
    if statuses:
        params["statuses"] = statuses
        where.append("status = ANY(CAST(:statuses AS text[]))")
    if direction is not None:
        params["direction"] = direction
        where.append("direction = :direction")
    return await sql_page(session, page, columns=_COLS, source="payments", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_row)


async def list_for_staff(session: AsyncSession, actor: Actor, page: PageRequest, *,
                         statuses: list[str] | None = None, direction: str | None = None,
                         client_id: int | None = None) -> Page[Payment]:
    """Every client's payments newest first, as the staff member may see them (the one rule of
    `domain.clients.access`: back office every client's, desk staff only their desk's clients', staff
    without a desk none), optionally only some statuses, one direction or one client's."""
    from domain.clients.access import is_back_office

    params: dict[str, Any] = {}
    where: list[str] = []
    if not is_back_office(actor):
        if not actor.desk:
            where.append("false")
        else:
            params["desk"] = actor.desk
            where.append("user_id IN (SELECT user_id FROM clients WHERE desk = :desk)")
    if statuses:
        params["statuses"] = statuses
        where.append("status = ANY(CAST(:statuses AS text[]))")
    if direction is not None:
        params["direction"] = direction
        where.append("direction = :direction")
    if client_id is not None:  # an unknown client, or one outside the desk rule above: an empty page
        params["client_id"] = client_id
        where.append("user_id = (SELECT user_id FROM clients WHERE id = :client_id)")
    return await sql_page(session, page, columns=_COLS, source="payments", where=where, params=params,
                          key=("created_at", "id"), descending=True, convert=_row)


async def awaiting_approval(session: AsyncSession, page: PageRequest) -> Page[Payment]:
    return await sql_page(session, page, columns=_COLS, source="payments", where=["approval = 'awaiting'"],
                          params={}, key=("created_at", "id"), descending=False, convert=_row)


class Approval(NamedTuple):
    approver_id: int
    approved_at: datetime
    name: str  # the approver's display name now (their e-mail while they have none)


# A payment's approvals, oldest first, read in the statement that reads the payment.
_APPROVALS = ("ARRAY(SELECT ROW(a.approver_id, a.created_at, coalesce(nullif(u.display_name, ''), u.email)) "
              "FROM payment_approvals a JOIN users u ON u.id = a.approver_id WHERE a.payment_id = payments.id "
              "ORDER BY a.created_at, a.approver_id) AS approvals")


def _row_with_approvals(r: Any) -> tuple[Payment, list[Approval]]:
    m = dict(r._mapping)
    approvals = [Approval(*a) for a in m.pop("approvals")]
    m["status"] = Status(m["status"])
    m["amount"], m["fee"] = Decimal(m["amount"]), Decimal(m["fee"])
    return Payment(**m), approvals


async def awaiting_approval_with_approvals(session: AsyncSession,
                                           page: PageRequest) -> Page[tuple[Payment, list[Approval]]]:
    """`awaiting_approval`, each payment with its approvals so far, in the one statement."""
    return await sql_page(session, page, columns=f"{_COLS}, {_APPROVALS}", source="payments",
                          where=["approval = 'awaiting'"], params={}, key=("created_at", "id"), descending=False,
                          convert=_row_with_approvals)
