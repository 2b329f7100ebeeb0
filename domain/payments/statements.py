"""Bank statements (CSV and ISO 20022 camt.053): incoming credits matched to wire deposits by the
payment reference quoted in the remittance information; outgoing debits quoting a wire
withdrawal's reference settle it, and a credit quoting one (the bank sending it back, camt.053
RtrInf) returns it.

Each statement line is stored once per (account, bank entry reference), so re-importing a file is
harmless; an exact match (reference, amount, currency) credits the wallet, anything else is left
for finance to review.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.payments import repo, withdrawals
from domain.payments.deposits import credit
from domain.payments.errors import StatementMalformed
from domain.payments.reference import PREFIXES, find_reference
from domain.payments.status import Status
from domain.shared.actor import Actor
from domain.shared.errors import DomainError
from domain.shared.iso20022 import camt053
from domain.shared.money import currency as currency_info

MAX_LINES = 10_000
CSV_COLUMNS = ("entry_ref", "booking_date", "amount", "currency", "payer_name", "remittance")
# Optional CSV column: why the bank sent a payment back (camt.053: RtrInf/Rsn/Cd and AddtlInf).
CSV_RETURN_REASON = "return_reason"


@dataclass(frozen=True)
class Line:
    line_ref: str
    booked_on: date | None
    amount: Decimal
    currency: str
    payer_name: str
    remittance: str
    return_reason: str = ""


@dataclass
class ImportResult:
    matched: list[str] = field(default_factory=list)  # payment references credited
    settled: list[str] = field(default_factory=list)  # wire withdrawal references paid out
    returned: list[str] = field(default_factory=list)  # wire withdrawal references sent back
    unmatched: list[str] = field(default_factory=list)  # bank entry refs with no usable reference
    amount_mismatch: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _amount(raw: str, line_ref: str) -> Decimal:
    try:
        return Decimal(raw.strip())
    except InvalidOperation as exc:
        raise StatementMalformed(f"line {line_ref}: {raw!r} is not an amount", field="content") from exc


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip()[:10]) if raw.strip() else None
    except ValueError:
        return None


def parse_csv(content: str) -> list[Line]:
    reader = csv.DictReader(io.StringIO(content.strip()))
    if reader.fieldnames is None or not set(CSV_COLUMNS) <= {c.strip() for c in reader.fieldnames}:
        raise StatementMalformed(f"the CSV needs the columns {', '.join(CSV_COLUMNS)}", field="content")
    lines = []
    for row in reader:
        ref = (row.get("entry_ref") or "").strip()
        if not ref:
            raise StatementMalformed("every line needs an entry_ref", field="content")
        lines.append(Line(ref, _date(row.get("booking_date") or ""), _amount(row.get("amount") or "", ref),
                          (row.get("currency") or "").strip().upper(), (row.get("payer_name") or "").strip(),
                          (row.get("remittance") or "").strip(), (row.get(CSV_RETURN_REASON) or "").strip()))
    return lines


async def _camt053_lines(content: str) -> list[Line]:
    """The entries of an ISO 20022 camt.053 statement (.001.02 or .001.08), read by the one camt.053 parser
    (domain/shared/iso20022/camt053.py), so validated against the XSD: a document it refuses is refused here with
    the XSD's message and line. The line's reference is the bank's (AcctSvcrRef, else NtryRef); payer, remittance
    and return reason are the first transaction's. At most MAX_LINES + 1 entries are read (more are refused)."""
    if "<!DOCTYPE" in content.upper() or "<!ENTITY" in content.upper():
        raise StatementMalformed("DTDs are not accepted in statements", field="content")
    try:
        entries = await camt053.entries(content.encode(), limit=MAX_LINES + 1)
    except camt053.Invalid as refused:
        raise StatementMalformed(refused.message, field="content") from None
    lines: list[Line] = []
    for e in entries:
        ref = e.acct_svcr_ref or e.entry_ref
        if not ref:
            raise StatementMalformed(f"entry {e.line_no} has no AcctSvcrRef or NtryRef", field="content")
        lines.append(Line(ref, e.booking_date, e.amount if e.credit else -e.amount, e.currency.upper(), e.payer_name,
                          e.tx_remittance, e.return_reason))
    return lines


async def import_statement(session: AsyncSession, actor: Actor, *, account: str, fmt: str,
                           content: str) -> ImportResult:
    account = account.strip()
    if not account or len(account) > 64:
        raise StatementMalformed("name the bank account (1 to 64 characters)", field="account")
    lines = parse_csv(content) if fmt == "csv" else await _camt053_lines(content)
    if len(lines) > MAX_LINES:
        raise StatementMalformed(f"at most {MAX_LINES} lines per statement", field="content")
    result = ImportResult()
    for line in lines:
        reference = find_reference(line.remittance)
        outgoing = reference is not None and reference.startswith(PREFIXES["withdrawal"] + "-")
        if line.amount <= 0 and not outgoing:
            continue  # bank fees and other outgoing lines that name no withdrawal
        if await _seen(session, account, line):
            status, payment_id = "duplicate", None
        elif outgoing:
            status, payment_id = await _match_withdrawal(session, actor, account, line, reference or "")
        else:
            status, payment_id = await _match(session, actor, line, reference)
        inserted = await session.scalar(text(
            "INSERT INTO bank_statement_lines (account, line_ref, booked_on, amount, currency, payer_name, remittance, "
            "reference, status, payment_id, imported_by) VALUES (:acc, :ref, :d, :amt, :cur, :payer, :rem, :pref, "
            ":st, :pid, :by) ON CONFLICT (account, line_ref) DO NOTHING RETURNING id"),
            {"acc": account, "ref": line.line_ref[:200], "d": line.booked_on, "amt": line.amount,
             "cur": line.currency[:8], "payer": line.payer_name[:200], "rem": line.remittance[:2000],
             "pref": reference, "st": status, "pid": payment_id, "by": actor.user_id})
        if inserted is None:
            result.duplicates.append(line.line_ref)
        elif status == "matched":
            (result.settled if outgoing else result.matched).append(reference or "")
        elif status == "returned":
            result.returned.append(reference or "")
        elif status == "amount_mismatch":
            result.amount_mismatch.append(line.line_ref)
        else:
            result.unmatched.append(line.line_ref)
    await audit.record(session, actor, action="payment.statement_import", entity_type="bank_account",
                       entity_id=account, after={"matched": len(result.matched), "settled": len(result.settled),
                                                 "returned": len(result.returned), "unmatched": len(result.unmatched),
                                                 "amount_mismatch": len(result.amount_mismatch),
                                                 "duplicates": len(result.duplicates)}, category="payments")
    return result


async def _seen(session: AsyncSession, account: str, line: Line) -> bool:
    already = await session.scalar(text(
        "SELECT 1 FROM bank_statement_lines WHERE account = :a AND line_ref = :r"), {"a": account, "r": line.line_ref})
    return already is not None


def _same_money(line: Line, payment: repo.Payment) -> bool:
    try:
        same_currency = currency_info(line.currency).code == payment.currency
    except DomainError:  # an unknown currency code on a bank line simply does not match
        same_currency = False
    return same_currency and abs(line.amount) == payment.amount


async def _match_withdrawal(session: AsyncSession, actor: Actor, account: str, line: Line,
                            reference: str) -> tuple[str, int | None]:
    """A debit quoting a wire withdrawal pays it; a credit quoting one is the bank sending it back.
    Anything unexpected (not approved, already paid by another line, already returned) goes to review."""
    payment = await repo.by_reference(session, reference)
    if payment is None or payment.direction != "withdrawal" or payment.method_kind != "wire":
        return "unmatched", None
    if not _same_money(line, payment):
        return "amount_mismatch", payment.id
    if payment.approval != "approved":
        return "unmatched", payment.id
    if line.amount < 0:
        if payment.status is Status.SUCCEEDED:
            # Staff marked it paid already: this line confirms it, unless another line did (a second debit).
            confirmed = await session.scalar(text(
                "SELECT 1 FROM bank_statement_lines WHERE payment_id = :p AND status = 'matched' AND amount < 0"),
                {"p": payment.id})
            return ("unmatched" if confirmed else "matched"), payment.id
        if payment.status not in (Status.CREATED, Status.PENDING):
            return "unmatched", payment.id
        await withdrawals.mark_paid(session, actor, payment.id, withdrawals.Evidence(
            bank_reference=line.line_ref[:64], note=f"bank statement {account}, booked {line.booked_on or '-'}",
            source="statement"))
        return "matched", payment.id
    if payment.status not in (Status.CREATED, Status.PENDING, Status.SUCCEEDED):
        return "unmatched", payment.id
    await withdrawals.mark_returned(session, actor, payment.id,
                                    f"{line.return_reason or 'credited back'} (bank statement {account}, "
                                    f"line {line.line_ref[:64]})")
    return "returned", payment.id


async def _match(session: AsyncSession, actor: Actor, line: Line,
                 reference: str | None) -> tuple[str, int | None]:
    payment = await repo.by_reference(session, reference) if reference else None
    if payment is None or payment.direction != "deposit" or payment.method_kind != "wire":
        return "unmatched", None
    if not _same_money(line, payment):
        return "amount_mismatch", payment.id
    if payment.status not in (Status.CREATED, Status.PENDING):
        return "unmatched", payment.id  # already settled: a second transfer quoting it goes to review
    payment = await repo.update(session, payment, payer_name=line.payer_name[:200] or None)
    await credit(session, actor, payment)
    return "matched", payment.id
