"""Suspicious transaction reports (goAML STR/SAR) built from AML cases: drafts, four-eyes approval, the
exported document, the FIU's answer; the reporting entity's details (domain/compliance/aml/reports.py)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.compliance.aml import reports, scope
from domain.compliance.aml.goaml.document import Entity
from domain.compliance.errors import ReportNotFound
from domain.shared.actor import Actor, ActorKind
from schema.compliance.aml import _loader, _run
from schema.context import Context
from schema.errors import UserError, declares_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, key_of, node_type, optional_global_id, query_key
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

Ctx = Info[Context, Any]
REPORTS = "compliance.reports"


@strawberry.enum
class AmlReportCode(Enum):
    STR = "STR"
    SAR = "SAR"


@strawberry.enum
class AmlReportStatus(Enum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    EXPORTED = "exported"


@strawberry.enum
class AmlReportFiuStatus(Enum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@strawberry.type(description="A suspicious transaction report (goAML STR or SAR) of an AML case closed with the "
                             "outcome risk confirmed.")
class AmlReport(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    case_id: strawberry.ID = strawberry.field(description="The case's global id (AmlCase.id).")
    user_id: strawberry.ID = strawberry.field(description="The reported client's user id.")
    report_code: AmlReportCode
    entity_reference: str = strawberry.field(description="The brokerage's reference for it in the goAML document.")
    status: AmlReportStatus
    reason: str = strawberry.field(description="The narrative: why the activity is suspicious.")
    action: str = strawberry.field(description="The action taken.")
    indicators: list[str] = strawberry.field(description="The FIU's indicator codes.")
    payment_ids: list[strawberry.ID] = strawberry.field(description="The reported payments' global ids (Payment.id).")
    created_by_id: strawberry.ID
    submitted_by_id: strawberry.ID | None
    submitted_at: dt.datetime | None
    approved_by_id: strawberry.ID | None
    approved_at: dt.datetime | None
    exported_by_id: strawberry.ID | None
    exported_at: dt.datetime | None
    fiu_ref_number: str | None = strawberry.field(description="The FIU's reference, once recorded.")
    fiu_status: AmlReportFiuStatus | None
    fiu_status_on: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, r: reports.AmlReport) -> AmlReport:
        return cls(id=global_id("AmlReport", r.id), database_id=strawberry.ID(str(r.id)),
                   case_id=global_id("AmlCase", r.case_id), user_id=strawberry.ID(str(r.user_id)),
                   report_code=AmlReportCode(r.report_code), entity_reference=r.entity_reference,
                   status=AmlReportStatus(r.status), reason=r.reason, action=r.action, indicators=r.indicators,
                   payment_ids=[global_id("Payment", p) for p in r.payment_ids],
                   created_by_id=global_id("StaffUser", r.created_by),
                   submitted_by_id=optional_global_id("StaffUser", r.submitted_by), submitted_at=r.submitted_at,
                   approved_by_id=optional_global_id("StaffUser", r.approved_by), approved_at=r.approved_at,
                   exported_by_id=optional_global_id("StaffUser", r.exported_by), exported_at=r.exported_at,
                   fiu_ref_number=r.fiu_ref_number,
                   fiu_status=AmlReportFiuStatus(r.fiu_status) if r.fiu_status else None,
                   fiu_status_on=r.fiu_status_on, created_at=r.created_at, updated_at=r.updated_at)


@strawberry.type(description="The brokerage as its FIU knows it: the goAML reporting entity id and contact.")
class AmlReportingEntity:
    rentity_id: int
    branch: str | None
    name: str
    local_currency: str
    country: str
    address: str
    city: str
    contact_first_name: str
    contact_last_name: str
    contact_email: str | None
    contact_occupation: str | None

    @classmethod
    def of(cls, e: Entity) -> AmlReportingEntity:
        return cls(rentity_id=e.rentity_id, branch=e.branch, name=e.name, local_currency=e.local_currency,
                   country=e.country, address=e.address, city=e.city, contact_first_name=e.contact_first_name,
                   contact_last_name=e.contact_last_name, contact_email=e.contact_email,
                   contact_occupation=e.contact_occupation)


@strawberry.input
class AmlReportingEntityInput:
    rentity_id: int = strawberry.field(description="The id the FIU's goAML portal gave the brokerage.")
    name: str
    local_currency: str = strawberry.field(description="ISO 4217: amounts are reported in it (amount_local).")
    country: str
    address: str
    city: str
    contact_first_name: str = strawberry.field(description="The reporting person (MLRO): ASCII letters as goAML "
                                                           "names are.")
    contact_last_name: str
    branch: str | None = None
    contact_email: str | None = None
    contact_occupation: str | None = None


@strawberry.type
class AmlReportPayload:
    report: AmlReport | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlReportExportPayload:
    report: AmlReport | None = None
    xml: str | None = strawberry.field(default=None, description="The approved goAML document (UTF-8 XML) to upload.")
    filename: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlReportingEntityPayload:
    entity: AmlReportingEntity | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _reports_reader(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(REPORTS)


# Staff with compliance.reports, desk-scoped (domain/compliance/aml/scope.py).
node_type("AmlReport")(_loader(reports.reports_by_ids, AmlReport.of, owner="user_id", reader=_reports_reader))


async def case_reports(info: Ctx, case_id: int, first: int | None, after: str | None, last: int | None,
                       before: str | None) -> Connection[AmlReport]:
    req = page_request(info, first, after, last, before)
    async with info.context.session() as session:
        page = await reports.list_reports(session, reports.ReportFilter(case_id=case_id,
                                                                        visible_to=info.context.actor), req)
    return to_connection(page, AmlReport.of, lambda r: (r.created_at, r.id))


@strawberry.type
class AmlReportQueries:
    @strawberry.field(permission_classes=[Requires(REPORTS)],
                      description="Suspicious transaction reports, oldest first: a case's, or by status.")
    async def aml_reports(self, info: Ctx, case_id: AnyId | None = None, status: list[AmlReportStatus] | None = None,
                          first: int | None = None, after: str | None = None, last: int | None = None,
                          before: str | None = None) -> Connection[AmlReport]:
        req = page_request(info, first, after, last, before)
        criteria = reports.ReportFilter(
            case_id=query_key(case_id, "AmlCase", field="caseId") if case_id is not None else None,
            statuses=tuple(s.value for s in status or ()), visible_to=info.context.actor)
        async with info.context.session() as session:
            page = await reports.list_reports(session, criteria, req)
        return to_connection(page, AmlReport.of, lambda r: (r.created_at, r.id))

    @strawberry.field(permission_classes=[Requires(REPORTS)],
                      description="The reporting entity's details (null until set).")
    async def aml_reporting_entity(self, info: Ctx) -> AmlReportingEntity | None:
        async with info.context.session() as session:
            found = await reports.reporting_entity(session)
        return AmlReportingEntity.of(found) if found else None


async def _visible(session: AsyncSession, actor: Actor, report_id: AnyId | int) -> int:
    """The report's key when the actor may see its client (desk scoping), else REPORT_NOT_FOUND."""
    key = report_id if isinstance(report_id, int) else key_of(report_id, "AmlReport", field="reportId")
    await scope.require_report(session, actor, key, ReportNotFound("no such report", field="reportId"))
    return key


def _report(r: reports.AmlReport) -> AmlReportPayload:
    return AmlReportPayload(report=AmlReport.of(r))


def _refused(e: list[UserError]) -> AmlReportPayload:
    return AmlReportPayload(errors=e)


DOCUMENT_ERRORS = ("FX_RATE_STALE", "GOAML_SCHEMA_INVALID", "RATE_UNAVAILABLE", "REPORTING_ENTITY_NOT_SET")


@strawberry.type
class AmlReportMutations:
    @declares_errors("VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Set the reporting entity's details (the goAML rentity id, local currency, "
                                     "address, reporting person) every report carries.")
    async def set_aml_reporting_entity(self, info: Ctx, entity: AmlReportingEntityInput) -> AmlReportingEntityPayload:
        actor = info.context.actor
        data = reports.EntityInput(
            rentity_id=entity.rentity_id, name=entity.name, local_currency=entity.local_currency,
            country=entity.country, address=entity.address, city=entity.city,
            contact_first_name=entity.contact_first_name, contact_last_name=entity.contact_last_name,
            branch=entity.branch, contact_email=entity.contact_email, contact_occupation=entity.contact_occupation)

        async def txn(session: AsyncSession) -> Entity:
            return await reports.set_reporting_entity(session, actor, data)

        return await _run(info, txn, lambda e: AmlReportingEntityPayload(entity=AmlReportingEntity.of(e)),
                          lambda e: AmlReportingEntityPayload(errors=e))

    @declares_errors("CASE_NOT_FOUND", "CASE_NOT_RISK_CONFIRMED", "INVALID_ID", "REPORTING_ENTITY_NOT_SET",
                     "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Start a report of a case closed with the outcome risk confirmed: its client, "
                                     "its alerted payments (or those chosen among them, none when the case alerted a "
                                     "transfer), every held or alerted wallet <-> trading account transfer of the "
                                     "case, the narrative, the action taken and the FIU's indicator codes.")
    async def create_aml_report(self, info: Ctx, case_id: AnyId, report_code: AmlReportCode, reason: str,
                                indicators: list[str], action: str = "",
                                payment_ids: list[AnyId] | None = None) -> AmlReportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reports.AmlReport:
            key = key_of(case_id, "AmlCase", field="caseId")
            chosen = [key_of(p, "Payment", field="paymentIds") for p in payment_ids] \
                if payment_ids is not None else None
            await scope.require_case(session, actor, key)
            return await reports.create_report(session, actor, key, code=report_code.value, reason=reason,
                                               action=action, indicators=indicators, payment_ids=chosen)

        return await _run(info, txn, _report, _refused)

    @declares_errors("INVALID_ID", "REPORT_NOT_FOUND", "REPORT_WRONG_STATUS", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Edit a draft report (what is given changes).")
    async def update_aml_report(self, info: Ctx, report_id: AnyId, reason: str | None = None,
                                action: str | None = None, indicators: list[str] | None = None,
                                payment_ids: list[AnyId] | None = None) -> AmlReportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reports.AmlReport:
            key = key_of(report_id, "AmlReport", field="reportId")
            chosen = [key_of(p, "Payment", field="paymentIds") for p in payment_ids] \
                if payment_ids is not None else None
            await _visible(session, actor, key)
            return await reports.update_report(session, actor, key, reason=reason, action=action,
                                               indicators=indicators, payment_ids=chosen)

        return await _run(info, txn, _report, _refused)

    @declares_errors(*DOCUMENT_ERRORS, "INVALID_ID", "REPORT_NOT_FOUND", "REPORT_WRONG_STATUS")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Submit a draft for approval: its goAML document must validate against the "
                                     "FIU's XSD (each XSD message is a GOAML_SCHEMA_INVALID error naming the element).")
    async def submit_aml_report(self, info: Ctx, report_id: AnyId) -> AmlReportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reports.AmlReport:
            return await reports.submit(session, actor, await _visible(session, actor, report_id))

        return await _run(info, txn, _report, _refused)

    @declares_errors(*DOCUMENT_ERRORS, "FOUR_EYES_RELATED_APPROVER", "INVALID_ID", "REPORT_NOT_FOUND",
                     "REPORT_WRONG_STATUS", "SELF_APPROVAL_FORBIDDEN")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Approve a submitted report (not its submitter, nor someone related to them): "
                                     "its document is built, validated and kept for export.")
    async def approve_aml_report(self, info: Ctx, report_id: AnyId) -> AmlReportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reports.AmlReport:
            return await reports.approve(session, actor, await _visible(session, actor, report_id))

        return await _run(info, txn, _report, _refused)

    @declares_errors("INVALID_ID", "REPORT_NOT_FOUND", "REPORT_WRONG_STATUS", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Refuse a submitted report with a reason: it is a draft again.")
    async def return_aml_report(self, info: Ctx, report_id: AnyId, reason: str) -> AmlReportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reports.AmlReport:
            return await reports.return_to_draft(session, actor, await _visible(session, actor, report_id), reason)

        return await _run(info, txn, _report, _refused)

    @declares_errors("INVALID_ID", "REPORT_NOT_FOUND", "REPORT_WRONG_STATUS")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="The approved goAML document for upload to the FIU (each export audited).")
    async def export_aml_report(self, info: Ctx, report_id: AnyId) -> AmlReportExportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> tuple[reports.AmlReport, str]:
            return await reports.export(session, actor, await _visible(session, actor, report_id))

        return await _run(info, txn, lambda r: AmlReportExportPayload(
            report=AmlReport.of(r[0]), xml=r[1], filename=f"{r[0].entity_reference}.xml"),
            lambda e: AmlReportExportPayload(errors=e))

    @declares_errors("INVALID_ID", "REPORT_NOT_FOUND", "REPORT_WRONG_STATUS", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Record the FIU's answer to an exported report: submitted (with its "
                                     "reference), accepted or rejected, on a date.")
    async def record_aml_report_fiu_status(self, info: Ctx, report_id: AnyId, status: AmlReportFiuStatus,
                                           on: dt.date, reference: str | None = None) -> AmlReportPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reports.AmlReport:
            return await reports.record_fiu_status(session, actor, await _visible(session, actor, report_id),
                                                   status=status.value, on=on, reference=reference)

        return await _run(info, txn, _report, _refused)
