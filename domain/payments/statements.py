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
import xml.etree.ElementTree as ET  # DTDs are refused before parsing (no entity expansion)
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


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node: ET.Element, *path: str) -> ET.Element | None:
    current: ET.Element | None = node
    for name in path:
        if current is None:
            return None
        current = next((c for c in current if _local(c.tag) == name), None)
    return current


def _text(node: ET.Element, *path: str) -> str:
    found = _find(node, *path)
    return (found.text or "").strip() if found is not None else ""


def parse_camt053(content: str) -> list[Line]:
    if "<!DOCTYPE" in content.upper() or "<!ENTITY" in content.upper():
        raise StatementMalformed("DTDs are not accepted in statements", field="content")
    try:
        root = ET.fromstring(content)  # noqa: S314 - no DTD, so no entity expansion
    except ET.ParseError as exc:
        raise StatementMalformed(f"not well-formed XML: {exc}", field="content") from exc
    lines: list[Line] = []
    for ntry in root.iter():
        if _local(ntry.tag) != "Ntry":
            continue
        amt = _find(ntry, "Amt")
        if amt is None:
            raise StatementMalformed("an entry has no Amt", field="content")
        ref = _text(ntry, "AcctSvcrRef") or _text(ntry, "NtryRef")
        if not ref:
            raise StatementMalformed("an entry has no AcctSvcrRef or NtryRef", field="content")
        amount = _amount(amt.text or "", ref)
        if _text(ntry, "CdtDbtInd") == "DBIT":
            amount = -amount
        tx = _find(ntry, "NtryDtls", "TxDtls")
        payer = _text(tx, "RltdPties", "Dbtr", "Nm") if tx is not None else ""
        remittance = " ".join(
            (e.text or "").strip() for e in (tx.iter() if tx is not None else ()) if _local(e.tag) in ("Ustrd", "Ref"))
        rtr = " ".join(x for x in (_text(tx, "RtrInf", "Rsn", "Cd"), _text(tx, "RtrInf", "Rsn", "Prtry"),
                                   _text(tx, "RtrInf", "AddtlInf")) if x) if tx is not None else ""
        if tx is not None and not rtr and _find(tx, "RtrInf") is not None:
            rtr = "returned"
        lines.append(Line(ref, _date(_text(ntry, "BookgDt", "Dt") or _text(ntry, "BookgDt", "DtTm")), amount,
                          (amt.get("Ccy") or "").upper(), payer, remittance, rtr))
    return lines


async def import_statement(session: AsyncSession, actor: Actor, *, account: str, fmt: str,
                           content: str) -> ImportResult:
    account = account.strip()
    if not account or len(account) > 64:
        raise StatementMalformed("name the bank account (1 to 64 characters)", field="account")
    lines = parse_csv(content) if fmt == "csv" else parse_camt053(content)
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
