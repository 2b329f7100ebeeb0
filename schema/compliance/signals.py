"""Operational payment signals (domain/payments/signals.py): listed and reviewed by compliance. The
payment patterns that were signals are transaction monitoring's templates (amlDecisions, amlCases)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import Enum
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.clients.errors import ClientNotFound
from domain.payments import signals
from domain.payments.signals import PaymentSignal
from domain.shared.actor import ActorKind
from schema.clients.ids import client_id_of
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, key_of, node_type, optional_global_id, referenced_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

Ctx = Info[Context, Any]


@strawberry.enum
class SignalStatus(Enum):
    OPEN = "open"
    ESCALATED = "escalated"
    DISMISSED = "dismissed"
    CONFIRMED = "confirmed"


@strawberry.enum
class SignalDecision(Enum):
    ESCALATE = "escalated"
    DISMISS = "dismissed"
    CONFIRM = "confirmed"


@strawberry.type(description="A suspicious-transaction signal raised on a payment, and its review.")
class PaymentSignalType(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    kind: str
    status: SignalStatus
    user_id: strawberry.ID
    payment_id: strawberry.ID | None = strawberry.field(description="The payment's global id (Payment.id).")
    details: JSON
    created_at: dt.datetime
    reviewed_by: strawberry.ID | None
    reviewed_at: dt.datetime | None
    review_note: str | None

    @strawberry.field(description="The client id of userId (null for a user without a client record).")
    async def client_id(self, info: Ctx) -> strawberry.ID | None:
        return await client_id_of(info, self.user_id)

    @classmethod
    def from_row(cls, r: PaymentSignal) -> PaymentSignalType:
        return cls(id=global_id("PaymentSignalType", r.id), database_id=strawberry.ID(str(r.id)), kind=r.kind,
                   status=SignalStatus(r.status), user_id=strawberry.ID(str(r.user_id)),
                   payment_id=optional_global_id("Payment", r.payment_id),
                   details=cast(JSON, r.details), created_at=r.created_at,
                   reviewed_by=strawberry.ID(str(r.reviewed_by)) if r.reviewed_by is not None else None,
                   reviewed_at=r.reviewed_at, review_note=r.review_note)


@strawberry.type
class PaymentSignalPayload:
    signal: PaymentSignalType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _key(r: PaymentSignal) -> tuple[dt.datetime, int]:
    return r.created_at, r.id


@node_type("PaymentSignalType")
async def _signal_nodes(ctx: Context, keys: Sequence[int]) -> list[PaymentSignalType | None]:
    """As paymentSignals: staff with compliance.read, desk-scoped to the clients they may see."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("compliance.read")):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await signals.signals_by_ids(session, ctx.actor, list(keys))
    return [PaymentSignalType.from_row(r) if (r := found.get(k)) else None for k in keys]


@strawberry.type
class SignalQueries:
    @strawberry.field(permission_classes=[Requires("compliance.read")],
                      description="Operational payment signals of clients you may see (a crypto transaction "
                                  "dropped after credit or confirmed after cancelling, a chargeback into a negative "
                                  "balance), newest first: by status, kind, client. Payment patterns (payer name, "
                                  "countries, near the method's limit, quick withdrawals, withdrawals without "
                                  "trading) are raised by transaction monitoring's templates instead: see "
                                  "amlDecisions and amlCases; earlier signals of those kinds stay listed here.")
    async def payment_signals(self, info: Ctx, status: list[SignalStatus] | None = None,
                              kinds: list[str] | None = None, client_id: strawberry.ID | None = None,
                              first: int | None = None, after: str | None = None,
                              last: int | None = None, before: str | None = None) -> Connection[PaymentSignalType]:
        req = page_request(info, first, after, last, before)
        criteria = signals.SignalFilter(
            statuses=tuple(s.value for s in status or ()), kinds=tuple(kinds or ()),
            client_id=referenced_key(client_id, ClientNotFound, "clientId") if client_id is not None else None)
        async with info.context.session() as session:  # a DomainError is shown with its code
            page = await signals.list_signals(session, info.context.actor, criteria, page=req)
        return to_connection(page, PaymentSignalType.from_row, _key)


@strawberry.type
class SignalMutations:
    @declares_errors("INVALID_ID", "NOT_FOUND", "SIGNAL_ALREADY_REVIEWED", "SIGNAL_NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("compliance.review")],
                         description="Escalate, dismiss or confirm a signal, with a note (who and when are kept).")
    async def review_payment_signal(self, info: Ctx, signal_id: AnyId, decision: SignalDecision,
                                    note: str) -> PaymentSignalPayload:
        ctx = info.context

        async def work() -> PaymentSignalPayload:
            key = key_of(signal_id, "PaymentSignalType", field="signalId")

            async def txn(session: AsyncSession) -> PaymentSignalPayload:
                row = await signals.review_signal(session, ctx.actor, key,
                                                  decision=decision.value, note=note)
                return PaymentSignalPayload(signal=PaymentSignalType.from_row(row))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: PaymentSignalPayload(errors=e))
