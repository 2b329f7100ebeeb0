"""Suspicious transaction reports (goAML STR/SAR) from AML cases closed with "risk confirmed".

A report starts as a draft of one case: the case's client is the subject, its alerted payments the
transactions (all of them unless chosen) beside every wallet <-> trading account transfer its decisions
held or alerted, with the staff's narrative (reason), the action taken and the
FIU's indicator codes; the draft is edited freely. Submitting it for approval builds the goAML document and
validates it against the FIU's XSD; a second, independent staff member approves it (the four eyes of
domain/identity/four_eyes.py, as for scenario activations), which builds and validates it again and keeps
that document: what is exported is exactly what was approved. After the upload the FIU's reference and
status are recorded. Every step is audited; a refused step changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.compliance.aml import scope
from domain.compliance.aml.goaml import document as goaml
from domain.compliance.aml.goaml.schema import enumeration
from domain.compliance.errors import (
    CaseNotConfirmed,
    CaseNotFound,
    NoReportingEntity,
    ReportNotFound,
    ReportWrongStatus,
)
from domain.fx.rates import mid_rate
from domain.identity import four_eyes
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.errors import FieldErrors, ValidationFailed
from domain.shared.money import round_to
from domain.shared.pagination import Page, PageRequest, sql_page

CODES = ("STR", "SAR")
FIU_STATUSES = ("submitted", "accepted", "rejected")
MAX_TEXT = 8000  # goAML comments_type
NAME = re.compile(r"[a-zA-Z0-9 .'-]{1,100}")  # the goAML name pattern (ASCII letters, digits, space . ' -)
RATE_PLACES = 10


@dataclass(frozen=True)
class AmlReport:
    id: int
    case_id: int
    user_id: int
    report_code: str
    status: str
    reason: str
    action: str
    indicators: list[str]
    payment_ids: list[int]
    created_by: int
    submitted_by: int | None
    submitted_at: datetime | None
    approved_by: int | None
    approved_at: datetime | None
    exported_by: int | None
    exported_at: datetime | None
    fiu_ref_number: str | None
    fiu_status: str | None
    fiu_status_on: date | None
    created_at: datetime
    updated_at: datetime

    @property
    def entity_reference(self) -> str:
        return f"FXCRM-{self.report_code}-{self.id}"


_R = ("id, case_id, user_id, report_code, status, reason, action, indicators, payment_ids, created_by, submitted_by, "
      "submitted_at, approved_by, approved_at, exported_by, exported_at, fiu_ref_number, fiu_status, fiu_status_on, "
      "created_at, updated_at")
_E = ("rentity_id, rentity_branch, name, local_currency, country, address, city, contact_first_name, "
      "contact_last_name, contact_email, contact_occupation")


def _report(r: Any) -> AmlReport:
    return AmlReport(r.id, r.case_id, r.user_id, r.report_code, r.status, r.reason, r.action, list(r.indicators),
                     [int(p) for p in r.payment_ids], r.created_by, r.submitted_by, r.submitted_at, r.approved_by,
                     r.approved_at, r.exported_by, r.exported_at, r.fiu_ref_number, r.fiu_status, r.fiu_status_on,
                     r.created_at, r.updated_at)


def _staff(actor: Actor) -> int:
    assert actor.user_id is not None
    return actor.user_id


def _text(value: str, field: str, *, required: bool) -> str:
    value = value.strip()
    if (required and not value) or len(value) > MAX_TEXT:
        raise ValidationFailed(f"{'1' if required else '0'} to {MAX_TEXT} characters", field=field)
    return value


# --- the reporting entity ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityInput:
    rentity_id: int
    name: str
    local_currency: str
    country: str
    address: str
    city: str
    contact_first_name: str
    contact_last_name: str
    branch: str | None = None
    contact_email: str | None = None
    contact_occupation: str | None = None


async def reporting_entity(session: AsyncSession) -> goaml.Entity | None:
    row = (await session.execute(text(f"SELECT {_E} FROM aml_reporting_entity WHERE id = 1"))).first()  # noqa: S608
    return goaml.Entity(*row) if row else None


def _checked_entity(data: EntityInput) -> goaml.Entity:
    form = FieldErrors()
    if not 1 <= data.rentity_id <= 2**31 - 1:
        form.add(ValidationFailed("the FIU's reporting entity id (a positive number)", field="rentityId"))
    if data.local_currency.upper() not in enumeration("currency_type"):
        form.add(ValidationFailed("a currency the FIU's schema knows", field="localCurrency"))
    if data.country.upper() not in enumeration("country_type") - {"-"}:
        form.add(ValidationFailed("an ISO country code the FIU's schema knows", field="country"))
    for field, value, limit in (("name", data.name, 255), ("address", data.address, 100), ("city", data.city, 255)):
        if not value.strip() or len(value.strip()) > limit:
            form.add(ValidationFailed(f"1 to {limit} characters", field=field))
    for field, value in (("contactFirstName", data.contact_first_name), ("contactLastName", data.contact_last_name)):
        if not NAME.fullmatch(value.strip()):
            form.add(ValidationFailed("1 to 100 ASCII letters, digits, spaces, '.', \"'\" or '-' (goAML names)",
                                      field=field))
    form.raise_if_any()
    return goaml.Entity(data.rentity_id, (data.branch or "").strip() or None, data.name.strip(),
                        data.local_currency.upper(), data.country.upper(), data.address.strip(), data.city.strip(),
                        data.contact_first_name.strip(), data.contact_last_name.strip(),
                        (data.contact_email or "").strip() or None, (data.contact_occupation or "").strip() or None)


async def set_reporting_entity(session: AsyncSession, actor: Actor, data: EntityInput) -> goaml.Entity:
    entity = _checked_entity(data)
    before = await reporting_entity(session)
    await session.execute(text(
        f"INSERT INTO aml_reporting_entity (id, {_E}, updated_by) VALUES (1, :rid, :br, :n, :cur, :c, :a, :city, "  # noqa: S608
        ":fn, :ln, :em, :occ, :u) ON CONFLICT (id) DO UPDATE SET rentity_id = :rid, rentity_branch = :br, name = :n, "
        "local_currency = :cur, country = :c, address = :a, city = :city, contact_first_name = :fn, "
        "contact_last_name = :ln, contact_email = :em, contact_occupation = :occ, updated_by = :u, updated_at = now()"),
        {"rid": entity.rentity_id, "br": entity.branch, "n": entity.name, "cur": entity.local_currency,
         "c": entity.country, "a": entity.address, "city": entity.city, "fn": entity.contact_first_name,
         "ln": entity.contact_last_name, "em": entity.contact_email, "occ": entity.contact_occupation,
         "u": _staff(actor)})
    await audit.record(session, actor, action="aml.reporting_entity_set", entity_type="aml_reporting_entity",
                       entity_id=1, before=asdict(before) if before else None, after=asdict(entity),
                       category="compliance")
    return entity


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    case_id: int | None = None
    statuses: tuple[str, ...] = ()
    visible_to: Actor | None = None  # desk scoping (scope.py); None: every client's


async def list_reports(session: AsyncSession, criteria: ReportFilter, page: PageRequest) -> Page[AmlReport]:
    where, params = scope.where(criteria.visible_to)
    if criteria.case_id is not None:
        where.append("case_id = :c")
        params["c"] = criteria.case_id
    if criteria.statuses:
        where.append("status = ANY(:st)")
        params["st"] = list(criteria.statuses)
    return await sql_page(session, page, columns=_R, source="aml_reports", where=where, params=params,
                          key=("created_at", "id"), descending=False, convert=_report)


async def reports_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, AmlReport]:
    rows = await session.execute(text(f"SELECT {_R} FROM aml_reports WHERE id = ANY(:i)"), {"i": ids})  # noqa: S608
    return {r.id: _report(r) for r in rows}


async def _locked(session: AsyncSession, report_id: int, *statuses: str) -> AmlReport:
    row = (await session.execute(text(f"SELECT {_R} FROM aml_reports WHERE id = :i FOR UPDATE"),  # noqa: S608
                                 {"i": report_id})).first()
    if row is None:
        raise ReportNotFound("no such report", field="reportId")
    report = _report(row)
    if report.status not in statuses:
        raise ReportWrongStatus(f"this report is {report.status}; this needs it {' or '.join(statuses)}",
                                field="reportId")
    return report


async def _update(session: AsyncSession, report_id: int, sets: str, params: dict[str, Any]) -> AmlReport:
    row = (await session.execute(text(
        f"UPDATE aml_reports SET {sets}, updated_at = now() WHERE id = :i RETURNING {_R}"),  # noqa: S608
        {"i": report_id, **params})).one()
    return _report(row)


# --- drafting ---------------------------------------------------------------------------------------------


async def _alerted_payments(session: AsyncSession, case_id: int) -> list[int]:
    rows = await session.scalars(text(
        "SELECT DISTINCT payment_id FROM aml_decisions WHERE case_id = :c AND payment_id IS NOT NULL "
        "AND outcome <> 'allow' ORDER BY payment_id"), {"c": case_id})
    return [int(p) for p in rows]


def _indicators(values: list[str]) -> list[str]:
    known = enumeration("report_indicator_type")
    chosen = sorted({v.strip().upper() for v in values})
    unknown = [v for v in chosen if v not in known]
    if not chosen or unknown:
        raise ValidationFailed("at least one indicator, each a code of the FIU's list"
                               + (f" (unknown: {', '.join(unknown)})" if unknown else ""), field="indicators")
    return chosen


async def _alerted_transfers(session: AsyncSession, case_id: int) -> list[int]:
    """The wallet <-> trading account transfers (held or alerted) the case's decisions name; a report tells them
    all, as the case found them."""
    rows = await session.scalars(text(
        "SELECT DISTINCT substr(subject, 10)::bigint AS t FROM aml_decisions WHERE case_id = :c "
        "AND trigger = 'transfer' AND subject LIKE 'transfer:%' AND outcome <> 'allow' ORDER BY t"), {"c": case_id})
    return [int(t) for t in rows]


def _payments(chosen: list[int] | None, alerted: list[int], transfers: list[int]) -> list[int]:
    picked = sorted(set(alerted if chosen is None else chosen))
    if (not picked and not transfers) or set(picked) - set(alerted):
        raise ValidationFailed("at least one payment (or an alerted transfer), each one this case's alerts name",
                               field="paymentIds")
    return picked


async def create_report(session: AsyncSession, actor: Actor, case_id: int, *, code: str, reason: str, action: str,
                        indicators: list[str], payment_ids: list[int] | None = None) -> AmlReport:
    """A draft report of a case closed with the outcome risk confirmed."""
    if code not in CODES:
        raise ValidationFailed("STR or SAR", field="reportCode")
    form = FieldErrors()
    narrative = form.take(lambda: _text(reason, "reason", required=True))
    taken = form.take(lambda: _text(action, "action", required=False))
    codes = form.take(lambda: _indicators(indicators))
    form.raise_if_any()
    case = (await session.execute(text("SELECT user_id, status, outcome FROM aml_cases WHERE id = :c FOR SHARE"),
                                  {"c": case_id})).first()
    if case is None:
        raise CaseNotFound("no such case", field="caseId")
    if case.status != "closed" or case.outcome != "risk_confirmed":
        raise CaseNotConfirmed("only a case closed with the outcome risk confirmed is reported", field="caseId")
    if await reporting_entity(session) is None:
        raise NoReportingEntity("set the reporting entity's details first (setAmlReportingEntity)")
    picked = _payments(payment_ids, await _alerted_payments(session, case_id),
                       await _alerted_transfers(session, case_id))
    row = (await session.execute(text(
        "INSERT INTO aml_reports (case_id, user_id, report_code, reason, action, indicators, payment_ids, "  # noqa: S608
        f"created_by) VALUES (:c, :u, :code, :r, :a, :ind, :p, :by) RETURNING {_R}"),
        {"c": case_id, "u": case.user_id, "code": code, "r": narrative, "a": taken, "ind": codes, "p": picked,
         "by": _staff(actor)})).one()
    report = _report(row)
    await audit.record(session, actor, action="aml.report_drafted", entity_type="aml_report", entity_id=report.id,
                       after={"case_id": case_id, "report_code": code, "indicators": codes, "payment_ids": picked},
                       category="compliance")
    return report


async def update_report(session: AsyncSession, actor: Actor, report_id: int, *, reason: str | None = None,
                        action: str | None = None, indicators: list[str] | None = None,
                        payment_ids: list[int] | None = None) -> AmlReport:
    """Edit a draft: the narrative, the action taken, the indicators, the transactions (among the case's
    alerted payments). Only what is given changes."""
    form = FieldErrors()
    narrative = form.take(lambda: _text(reason, "reason", required=True)) if reason is not None else None
    taken = form.take(lambda: _text(action, "action", required=False)) if action is not None else None
    codes = form.take(lambda: _indicators(indicators)) if indicators is not None else None
    form.raise_if_any()
    report = await _locked(session, report_id, "draft")
    picked = _payments(payment_ids, await _alerted_payments(session, report.case_id),
                       await _alerted_transfers(session, report.case_id)) if payment_ids is not None else None
    changes = {k: v for k, v in (("reason", narrative), ("action", taken), ("indicators", codes),
                                 ("payment_ids", picked)) if v is not None}
    if not changes:
        return report
    updated = await _update(session, report_id, ", ".join(f"{k} = :{k}" for k in changes), changes)
    await audit.record(session, actor, action="aml.report_edited", entity_type="aml_report", entity_id=report_id,
                       before={k: getattr(report, k) for k in changes}, after=changes, category="compliance")
    return updated


# --- the document -----------------------------------------------------------------------------------------


def _split(name: str) -> tuple[str, str] | None:
    parts = name.split()
    return (" ".join(parts[:-1]), parts[-1]) if len(parts) >= 2 else None


async def document_data(session: AsyncSession, report: AmlReport) -> tuple[goaml.Entity, goaml.Report]:
    """Everything the document says, read now: the entity, the client as the subject, each payment with its
    amount converted to the local currency at the configured source's mid rate."""
    entity = await reporting_entity(session)
    if entity is None:
        raise NoReportingEntity("set the reporting entity's details first (setAmlReportingEntity)")
    client = (await session.execute(text(
        "SELECT c.first_name, c.last_name, c.date_of_birth, c.country, c.profile, u.email FROM users u "
        "LEFT JOIN clients c ON c.user_id = u.id WHERE u.id = :u"), {"u": report.user_id})).one()
    profile = client.profile or {}
    address = profile.get("address") or {}
    taxes = profile.get("tax_residencies") or []
    residence = address.get("country") or client.country
    subject = goaml.Person(
        first_name=client.first_name or "", last_name=client.last_name or "", birthdate=client.date_of_birth,
        nationality=profile.get("nationality"), residence=residence, phone=profile.get("phone"),
        address=address.get("line"), city=address.get("city"), postal_code=address.get("postal_code"),
        country=address.get("country"), email=client.email, occupation=profile.get("occupation") or None,
        tax_number=taxes[0]["tin"] if taxes else None)
    rows = (await session.execute(text(
        "SELECT id, reference, direction, method_kind, method_code, provider, status, created_at, currency, amount, "
        "payer_name, country, card_bin_country FROM payments WHERE id = ANY(:p) ORDER BY created_at, id"),
        {"p": report.payment_ids})).all()
    moved = (await session.execute(text(
        "SELECT id, external_id, direction, server_id, login, currency, amount, status, created_at "
        "FROM ledger_transfers WHERE id = ANY(:t) AND user_id = :u ORDER BY created_at, id"),
        {"t": await _alerted_transfers(session, report.case_id), "u": report.user_id})).all()
    rates = {cur: (await mid_rate(session, cur, entity.local_currency)).rate  # one look-up per currency
             for cur in sorted({p.currency for p in rows} | {t.currency for t in moved})}
    transactions = []
    for p in rows:
        rate = rates[p.currency]
        named = _split(p.payer_name or "")
        other = goaml.Person(named[0], named[1]) if named else subject
        transactions.append(goaml.Transaction(
            number=p.reference, internal_ref=str(p.id), direction=p.direction, method_kind=p.method_kind,
            method_code=p.method_code, provider=p.provider, status=p.status, at=p.created_at, currency=p.currency,
            amount=p.amount, amount_local=round_to(p.amount * rate, entity.local_currency),
            rate=round(rate, RATE_PLACES), counterparty=other,
            counterparty_country=p.country or p.card_bin_country or residence or "-"))
    for t in moved:  # the client on both sides: their wallet and their trading account
        rate = rates[t.currency]
        transactions.append(goaml.Transaction(
            number=str(t.external_id), internal_ref=f"transfer:{t.id}", direction=t.direction,
            method_kind="internal", method_code=f"{t.server_id}:{t.login}", provider="brokerage",
            status=t.status, at=t.created_at, currency=t.currency,
            amount=t.amount, amount_local=round_to(t.amount * rate, entity.local_currency),
            rate=round(rate, RATE_PLACES), counterparty=subject, counterparty_country=residence or "-"))
    transactions.sort(key=lambda txn: txn.at)
    return entity, goaml.Report(
        code=report.report_code, entity_reference=report.entity_reference, submitted_at=utcnow(),
        reason=report.reason, action=report.action, indicators=tuple(report.indicators), subject=subject,
        subject_country=residence or "-", transactions=tuple(transactions))


async def build_document(session: AsyncSession, report: AmlReport) -> bytes:
    """The report's goAML document, validated (GOAML_SCHEMA_INVALID with each XSD message otherwise)."""
    entity, data = await document_data(session, report)
    return goaml.build_valid(entity, data)


# --- four eyes, export, the FIU's answer -------------------------------------------------------------------


async def submit(session: AsyncSession, actor: Actor, report_id: int) -> AmlReport:
    """Ask for approval; the document must already validate."""
    report = await _locked(session, report_id, "draft")
    await build_document(session, report)
    updated = await _update(session, report_id, "status = 'pending_approval', submitted_by = :u, submitted_at = now()",
                            {"u": _staff(actor)})
    await audit.record(session, actor, action="aml.report_submitted", entity_type="aml_report", entity_id=report_id,
                       before={"status": "draft"}, after={"status": "pending_approval"}, category="compliance")
    return updated


async def approve(session: AsyncSession, actor: Actor, report_id: int) -> AmlReport:
    """The second pair of eyes (not the submitter, nor related to them): the document is built, validated and
    kept as approved."""
    report = await _locked(session, report_id, "pending_approval")
    approver = _staff(actor)
    if approver == report.submitted_by:
        raise four_eyes.SelfApproval("a second staff member must approve this report", field="reportId")
    await four_eyes.require_independent(session, approver, [report.submitted_by], field="reportId")
    xml = await build_document(session, report)
    updated = await _update(session, report_id, "status = 'approved', approved_by = :u, approved_at = now(), "
                                                "xml = :x", {"u": approver, "x": xml.decode()})
    await audit.record(session, actor, action="aml.report_approved", entity_type="aml_report", entity_id=report_id,
                       before={"status": "pending_approval"},
                       after={"status": "approved", "submitted_by": report.submitted_by}, category="compliance")
    return updated


async def return_to_draft(session: AsyncSession, actor: Actor, report_id: int, reason: str) -> AmlReport:
    """Refuse approval with a reason: the report is a draft again."""
    why = _text(reason, "reason", required=True)
    await _locked(session, report_id, "pending_approval")
    updated = await _update(session, report_id, "status = 'draft', submitted_by = NULL, submitted_at = NULL", {})
    await audit.record(session, actor, action="aml.report_returned", entity_type="aml_report", entity_id=report_id,
                       before={"status": "pending_approval"}, after={"status": "draft"}, reason=why,
                       category="compliance")
    return updated


async def export(session: AsyncSession, actor: Actor, report_id: int) -> tuple[AmlReport, str]:
    """The approved document for upload to the FIU (each download audited)."""
    await _locked(session, report_id, "approved", "exported")
    updated = await _update(session, report_id, "status = 'exported', exported_by = :u, exported_at = now()",
                            {"u": _staff(actor)})
    xml = await session.scalar(text("SELECT xml FROM aml_reports WHERE id = :i"), {"i": report_id})
    await audit.record(session, actor, action="aml.report_exported", entity_type="aml_report", entity_id=report_id,
                       after={"status": "exported"}, category="compliance")
    return updated, str(xml)


async def record_fiu_status(session: AsyncSession, actor: Actor, report_id: int, *, status: str, on: date,
                            reference: str | None) -> AmlReport:
    """What the FIU answered: submitted (with its reference), accepted or rejected, on a date."""
    form = FieldErrors()
    if status not in FIU_STATUSES:
        form.add(ValidationFailed(f"one of {', '.join(FIU_STATUSES)}", field="status"))
    if on > utcnow().date():
        form.add(ValidationFailed("not a future date", field="on"))
    ref = (reference or "").strip() or None
    if ref is not None and len(ref) > 255:
        form.add(ValidationFailed("at most 255 characters", field="reference"))
    form.raise_if_any()
    report = await _locked(session, report_id, "exported")
    if ref is None and report.fiu_ref_number is None:
        raise ValidationFailed("the FIU's reference for this report", field="reference")
    updated = await _update(session, report_id, "fiu_status = :s, fiu_status_on = :d, "
                                                "fiu_ref_number = coalesce(:r, fiu_ref_number)",
                            {"s": status, "d": on, "r": ref})
    await audit.record(session, actor, action="aml.report_fiu_status", entity_type="aml_report", entity_id=report_id,
                       before={"fiu_status": report.fiu_status, "fiu_ref_number": report.fiu_ref_number},
                       after={"fiu_status": status, "fiu_status_on": on.isoformat(),
                              "fiu_ref_number": updated.fiu_ref_number}, category="compliance")
    return updated
