"""Records on request (domain/audit/records.py): one typed record per kind, listed by
`regulatorRecords(kind, filter)` and exported by `regulatorRecordsExportLink` as CSV or XLSX."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.audit import record_exports, records
from domain.ib.errors import IbNotFound
from schema.clients.ids import client_key
from schema.clients.staff import DocumentViewLink
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import AnyId, optional_global_id, referenced_key
from schema.permissions import Requires
from schema.scalars import Money

Ctx = Info[Context, Any]


@strawberry.enum(description="The kinds of records a regulator asks for.")
class RegulatorRecordKind(Enum):
    COMMISSION = "commission"
    IB_RELATIONSHIP = "ib_relationship"
    BALANCE_ADJUSTMENT = "balance_adjustment"
    LEVERAGE_CHANGE = "leverage_change"
    COMMUNICATION = "communication"


@strawberry.enum(description="A file format for an export.")
class RecordExportFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.input(description="Every given field narrows the records; `to` is exclusive. `ibId` selects an IB's own "
                              "rows for IB kinds and, for client kinds, the rows of clients attributed to the IB "
                              "when the row happened.")
class RegulatorRecordFilter:
    client_id: AnyId | None = None
    ib_id: strawberry.ID | None = strawberry.field(default=None, description="The IB's user id.")
    from_: dt.datetime | None = strawberry.field(default=None, name="from")
    to: dt.datetime | None = None


def domain_filter(f: RegulatorRecordFilter | None) -> records.RecordFilter:
    if f is None:
        return records.RecordFilter()
    return records.RecordFilter(
        client_id=None if f.client_id is None else client_key(f.client_id, field="filter.clientId"),
        ib_id=None if f.ib_id is None else referenced_key(f.ib_id, IbNotFound, "filter.ibId"),
        occurred_from=f.from_, occurred_to=f.to)


AMOUNT_DOC = "At the currency's scale; a commission line finer than that (its plan's scale) keeps every digit."


def _id(v: int | None) -> strawberry.ID | None:
    return None if v is None else strawberry.ID(str(v))


@strawberry.type(description="One commission line with the plan version and formula it was computed by.")
class CommissionLineRecord:
    occurred_at: dt.datetime = strawberry.field(description="The deal's time (or the period's, for CPA/revenue share).")
    line_id: strawberry.ID
    ib_id: strawberry.ID = strawberry.field(description="The earning IB's user id.")
    direct_ib_id: strawberry.ID
    level: int
    client_user_id: strawberry.ID | None
    kind: str
    source: str
    server_id: strawberry.ID | None
    deal_id: strawberry.ID | None
    login: strawberry.ID | None
    symbol: str | None
    volume: Decimal | None
    plan_id: strawberry.ID | None = strawberry.field(description="The IbPlan's global id.")
    plan_name: str | None
    plan_version_id: strawberry.ID | None
    plan_version: int | None
    clause_no: int | None
    clause_kind: str
    formula: str
    inputs: JSON
    quantity: Decimal
    rate: Decimal
    fx_rate: Decimal
    amount: Money = strawberry.field(description=AMOUNT_DOC)  # type: ignore[valid-type]
    currency: str
    reason: str | None

    @classmethod
    def of(cls, r: Any) -> CommissionLineRecord:
        import orjson

        return cls(occurred_at=r.occurred_at, line_id=strawberry.ID(str(r.line_id)), ib_id=strawberry.ID(str(r.ib_id)),
                   direct_ib_id=strawberry.ID(str(r.direct_ib_id)), level=r.level,
                   client_user_id=_id(r.client_user_id), kind=r.kind, source=r.source, server_id=_id(r.server_id),
                   deal_id=_id(r.deal_id), login=_id(r.login), symbol=r.symbol, volume=r.volume,
                   plan_id=optional_global_id("IbPlan", r.plan_id), plan_name=r.plan_name,
                   plan_version_id=_id(r.plan_version_id), plan_version=r.plan_version, clause_no=r.clause_no,
                   clause_kind=r.clause_kind, formula=r.formula, inputs=orjson.loads(r.inputs), quantity=r.quantity,
                   rate=r.rate, fx_rate=r.fx_rate, amount=records.shown_amount(r.amount, r.currency),
                   currency=r.currency, reason=r.reason)


@strawberry.type(description="One fact of the IB network over time: a parent edge (a move), a client's attribution, "
                             "a plan assignment, or an application's decision (status).")
class IbRelationshipRecord:
    occurred_at: dt.datetime
    record: str = strawberry.field(description="parent, client_attribution, plan_assignment or status.")
    ib_id: strawberry.ID
    parent_id: strawberry.ID | None = strawberry.field(description="The parent IB's user id (parent and status).")
    client_user_id: strawberry.ID | None
    plan_id: strawberry.ID | None = strawberry.field(description="The IbPlan's global id.")
    plan_name: str | None
    status: str | None = strawberry.field(description="The decision (status) or the attribution's source.")
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    reason: str | None
    by_user_id: strawberry.ID | None = strawberry.field(description="Who made the change, when recorded.")

    @classmethod
    def of(cls, r: Any) -> IbRelationshipRecord:
        return cls(occurred_at=r.occurred_at, record=r.record, ib_id=strawberry.ID(str(r.ib_id)),
                   parent_id=_id(r.parent_id), client_user_id=_id(r.client_user_id),
                   plan_id=optional_global_id("IbPlan", r.plan_id), plan_name=r.plan_name, status=r.status,
                   valid_from=r.valid_from, valid_to=r.valid_to, reason=r.reason, by_user_id=_id(r.by_user_id))


@strawberry.type(description="A balance adjustment: a request for a second approval (any status) or one that "
                             "posted at once under the threshold; the amount as the client sees it.")
class BalanceAdjustmentRecord:
    occurred_at: dt.datetime
    request_id: strawberry.ID | None
    entry_id: strawberry.ID | None = strawberry.field(description="The ledger entry it posted, if it did.")
    client_user_id: strawberry.ID
    wallet_id: strawberry.ID
    amount: Money = strawberry.field(description=AMOUNT_DOC)  # type: ignore[valid-type]
    currency: str
    status: str = strawberry.field(description="pending, approved, rejected, or posted (no approval needed).")
    requested_by: strawberry.ID | None
    approved_by: strawberry.ID | None = strawberry.field(description="Who decided a request (approved or rejected).")
    decided_at: dt.datetime | None
    reason: str
    decision_reason: str | None
    allow_negative: bool

    @classmethod
    def of(cls, r: Any) -> BalanceAdjustmentRecord:
        return cls(occurred_at=r.occurred_at, request_id=_id(r.request_id), entry_id=_id(r.entry_id),
                   client_user_id=strawberry.ID(str(r.client_user_id)), wallet_id=strawberry.ID(str(r.wallet_id)),
                   amount=records.shown_amount(r.amount, r.currency), currency=r.currency, status=r.status,
                   requested_by=_id(r.requested_by),
                   approved_by=_id(r.approved_by), decided_at=r.decided_at, reason=r.reason,
                   decision_reason=r.decision_reason, allow_negative=r.allow_negative)


@strawberry.type(description="A leverage change: asked, the cap that applied, and the decision.")
class LeverageChangeRecord:
    occurred_at: dt.datetime
    request_id: strawberry.ID
    client_user_id: strawberry.ID
    trading_account_id: strawberry.ID = strawberry.field(description="The TradingAccount's database id.")
    login: strawberry.ID
    from_leverage: int
    requested_leverage: int
    cap: int | None
    status: str
    auto_approved: bool
    decided_by: strawberry.ID | None
    reason: str
    error: str | None
    decided_at: dt.datetime
    applied_at: dt.datetime | None

    @classmethod
    def of(cls, r: Any) -> LeverageChangeRecord:
        return cls(occurred_at=r.occurred_at, request_id=strawberry.ID(str(r.request_id)),
                   client_user_id=strawberry.ID(str(r.client_user_id)),
                   trading_account_id=strawberry.ID(str(r.trading_account_id)), login=strawberry.ID(str(r.login)),
                   from_leverage=r.from_leverage, requested_leverage=r.requested_leverage, cap=r.cap,
                   status=r.status, auto_approved=r.auto_approved, decided_by=_id(r.decided_by), reason=r.reason,
                   error=r.error, decided_at=r.decided_at, applied_at=r.applied_at)


@strawberry.type(description="A note, call, e-mail or message logged on a client.")
class CommunicationRecord:
    occurred_at: dt.datetime
    communication_id: strawberry.ID
    client_user_id: strawberry.ID
    kind: str
    direction: str
    subject: str
    body: str
    author_user_id: strawberry.ID | None

    @classmethod
    def of(cls, r: Any) -> CommunicationRecord:
        return cls(occurred_at=r.occurred_at, communication_id=strawberry.ID(str(r.communication_id)),
                   client_user_id=strawberry.ID(str(r.client_user_id)), kind=r.kind, direction=r.direction,
                   subject=r.subject, body=r.body, author_user_id=_id(r.author_user_id))


RegulatorRecord = Annotated[
    CommissionLineRecord | IbRelationshipRecord | BalanceAdjustmentRecord | LeverageChangeRecord | CommunicationRecord,
    strawberry.union("RegulatorRecord", description="One record on request; its type follows the kind asked for.")]

CONVERT: dict[records.RecordKind, Callable[[Any], RegulatorRecord]] = {
    records.RecordKind.COMMISSION: CommissionLineRecord.of,
    records.RecordKind.IB_RELATIONSHIP: IbRelationshipRecord.of,
    records.RecordKind.BALANCE_ADJUSTMENT: BalanceAdjustmentRecord.of,
    records.RecordKind.LEVERAGE_CHANGE: LeverageChangeRecord.of,
    records.RecordKind.COMMUNICATION: CommunicationRecord.of,
}


@strawberry.type
class RegulatorRecordsExportPayload:
    link: DocumentViewLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordExportMutations:
    @declares_errors("IB_NOT_FOUND", "INVALID_ID", "RECORD_CLIENT_NOT_FOUND", "RECORD_EXPORT_NOT_FOUND",
                     "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(record_exports.PERMISSION)],
                         description="A link (GET, about 60 s, this session only) that downloads one kind of records "
                                     "on request, filtered like regulatorRecords, as CSV or XLSX (streamed, oldest "
                                     "first); issuing and every download are audited.")
    async def regulator_records_export_link(
        self, info: Ctx, kind: RegulatorRecordKind, format: RecordExportFormat,
        filter: RegulatorRecordFilter | None = None,
    ) -> RegulatorRecordsExportPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> RegulatorRecordsExportPayload:
            _, issued = await record_exports.issue(session, ctx.settings, ctx.actor, records.RecordKind(kind.value),
                                                   domain_filter(filter), format.value)
            return RegulatorRecordsExportPayload(link=DocumentViewLink(
                url=issued.url, expires_at=dt.datetime.fromtimestamp(issued.expires_at, dt.UTC)))

        return await payload_or_errors(lambda: ctx.transaction(txn),
                                       lambda e: RegulatorRecordsExportPayload(errors=e))
