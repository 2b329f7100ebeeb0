"""Bank statements for the external client-money reconciliation: ISO 20022 camt.053 (v02 `camt.053.001.02` and
v08 `camt.053.001.08`), validated against the official XSD while it is read, and stored.

Reading is the one camt.053 parser (domain/shared/iso20022/camt053.py, shared with the payments' statement
import): one streaming pass validating as it parses, each `Ntry` an entry turned into a row here, and rows go to
the database by COPY a batch at a time, so memory is bounded by a batch whatever the statement's size. A schema
error can only be known when the parser reaches it, possibly after rows were copied: the whole import is one
transaction, so a refused file (schema-invalid, a duplicate statement, an unknown currency) leaves nothing
behind. The parser runs on its own thread a batch at a time, the event loop keeps serving while a large file is
read.

What is kept per statement (`Stmt`): the account (IBAN, or the other identification when the bank gives no
IBAN), the statement id, the electronic sequence number, the opening and closing booked balances (OPBD / CLBD)
per currency, signed; per entry: amount, credit or debit, status (only BOOK entries are reconciled), booking and
value dates, the bank's reference (AcctSvcrRef), the first transaction's EndToEndId, the remittance information
(unstructured lines and structured creditor references) and our payment reference found in EndToEndId or
remittance (`domain.payments.reference`).

Effects: the same statement (account + statement id) twice is refused (BANK_STATEMENT_DUPLICATE); each closing
booked balance becomes the segregated bank resource of its date, account and currency (client_money_resources,
`statement_id` set: a hand-entered figure is replaced, and no longer accepted for that account and day); an
opening balance that differs from the account's previous statement's closing balance is answered as a warning
here and raised as an `opening_balance_mismatch` break by the runs of that close (sections.BANK).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.payments.reference import find_reference
from domain.reconciliation.errors import StatementDuplicate, StatementInvalid
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.shared.iso20022 import camt053
from domain.shared.iso20022.camt053 import PARSER_THREAD, SNIFF_BYTES, Entry, Header
from domain.shared.iso20022.camt053 import Balance as Balance  # the statements' balances, as this module answers
from domain.shared.money import currency as currency_info
from domain.shared.pagination import Page, PageRequest, sql_page

ENTRY_COLUMNS = ("statement_id", "line_no", "amount", "currency", "credit", "status", "booking_date", "value_date",
                 "acct_svcr_ref", "end_to_end_id", "remittance", "reference")

@dataclass(frozen=True)
class Warning:
    code: str
    statement_id: str
    currency: str
    message: str
    opening: Decimal
    previous_closing: Decimal
    previous_statement_id: str


@dataclass(frozen=True)
class StatementView:
    id: int
    iban: str
    statement_id: str
    electronic_seq: Decimal | None
    version: str
    message_id: str
    created_at: datetime | None
    closing_date: date | None
    entry_count: int
    sha256: str
    imported_by: int | None
    imported_at: datetime
    balances: list[Balance]


@dataclass
class ImportResult:
    statements: list[StatementView] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)


def _parse_ahead(items: Iterator[Any]) -> asyncio.Future[Any]:
    """The next item, parsed on the parser thread while the caller stores the current one."""
    return asyncio.get_running_loop().run_in_executor(PARSER_THREAD, next, items, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_version(head: bytes) -> str:
    """The camt.053 version the document declares (BANK_STATEMENT_INVALID when it is none)."""
    try:
        return camt053.sniff_version(head)
    except camt053.Invalid as refused:
        raise StatementInvalid(refused.message, field="file") from None


def _row(e: Entry) -> tuple[Any, ...]:
    """An entry as the row COPY writes (statement id filled in by the caller), with our payment reference found
    in its EndToEndId or remittance."""
    reference = find_reference(f"{e.end_to_end_id} {e.remittance}") if e.end_to_end_id or e.remittance else None
    return (e.line_no, e.amount, e.currency, e.credit, e.status[:4], e.booking_date, e.value_date, e.acct_svcr_ref,
            e.end_to_end_id, e.remittance, reference)


def _rows(items: Generator[camt053.Item, None, None]) -> Generator[Any, None, None]:
    """The parser's stream with entries as rows (converted on the parser thread, where `next` runs)."""
    try:
        for item in items:
            yield [_row(e) for e in item] if isinstance(item, list) else item
    finally:
        items.close()  # on this (the parser's) thread: the tree it holds is freed where it was built


_STATEMENT_COLUMNS = ("id, iban, statement_id, electronic_seq, version, message_id, created_at, closing_date, "
                      "entry_count, sha256, imported_by, imported_at")


async def import_file(session: AsyncSession, actor: Actor, path: Path) -> ImportResult:
    """Validate, read and store every statement of the file; the caller owns the transaction (a refusal rolls
    everything back). The next batch is parsed while the current one is copied."""
    with path.open("rb") as f:
        version = sniff_version(f.read(SNIFF_BYTES))
    sha = await asyncio.to_thread(_sha256, path)
    conn = await driver(session)
    items = _rows(camt053.read(path, version))
    ahead = [_parse_ahead(items)]  # the parse under way (_store moves it on)
    try:
        return await _store(session, actor, items, ahead, version, sha, conn)
    except camt053.Invalid as refused:
        raise StatementInvalid(refused.message, field="file") from None
    finally:
        # the parse under way ends (its error, if any, was raised through _store or no longer matters), then the
        # generator and the tree it holds are let go on their own thread
        await asyncio.gather(ahead[0], return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(PARSER_THREAD, items.close)


async def _store(session: AsyncSession, actor: Actor, items: Iterator[Any], ahead: list[asyncio.Future[Any]],
                 version: str, sha: str, conn: Any) -> ImportResult:
    result = ImportResult()
    message_id = ""
    current: int | None = None
    header: Header | None = None
    while (item := await ahead[0]) is not None:
        ahead[0] = _parse_ahead(items)
        if isinstance(item, str):
            message_id = item
        elif isinstance(item, Header):
            header = item
            current = await _start(session, actor, item, version=version, message_id=message_id, sha=sha)
        elif isinstance(item, list):
            assert current is not None
            await conn.copy_records_to_table("bank_statement_entries", columns=ENTRY_COLUMNS,
                                             records=[(current, *row) for row in item])
        else:
            assert current is not None and header is not None
            view, warnings = await _finish(session, actor, current, header, item.entries)
            result.statements.append(view)
            result.warnings.extend(warnings)
            current, header = None, None
    return result


async def _start(session: AsyncSession, actor: Actor, header: Header, *, version: str, message_id: str,
                 sha: str) -> int:
    if not header.account:
        raise StatementInvalid("the statement names no account", field="file")
    for bal in header.balances:
        currency_info(bal.currency)  # UNKNOWN_CURRENCY: a resource in a currency the firm does not keep
    seen = await session.scalar(text("SELECT id FROM bank_statements WHERE iban = :a AND statement_id = :s"),
                                {"a": header.account, "s": header.statement_id})
    if seen is not None:
        raise StatementDuplicate(f"statement {header.statement_id} of {header.account} was already imported",
                                 field="file")
    closing = max((b.as_of for b in header.balances if b.type == "CLBD"), default=None)
    statement_id = int(await session.scalar(text(
        "INSERT INTO bank_statements (iban, statement_id, electronic_seq, version, message_id, created_at, from_at, "
        "to_at, closing_date, sha256, entry_count, imported_by) VALUES (:a, :s, :q, :v, :m, :c, :f, :t, :d, :h, 0, "
        ":by) RETURNING id"),
        {"a": header.account, "s": header.statement_id, "q": header.electronic_seq, "v": version, "m": message_id,
         "c": header.created_at, "f": header.from_at, "t": header.to_at, "d": closing, "h": sha,
         "by": actor.user_id}))
    seen_keys: set[tuple[str, str]] = set()
    for bal in header.balances:
        if (bal.type, bal.currency) in seen_keys:
            raise StatementInvalid(f"two {bal.type} balances in {bal.currency}", field="file")
        seen_keys.add((bal.type, bal.currency))
        await session.execute(text(
            "INSERT INTO bank_statement_balances (statement_id, type, currency, amount, as_of) "
            "VALUES (:s, :t, :c, :a, :d)"),
            {"s": statement_id, "t": bal.type, "c": bal.currency, "a": bal.amount, "d": bal.as_of})
    return statement_id


async def _finish(session: AsyncSession, actor: Actor, statement_id: int, header: Header,
                  entries: int) -> tuple[StatementView, list[Warning]]:
    row = (await session.execute(text(
        f"UPDATE bank_statements SET entry_count = :n WHERE id = :id RETURNING {_STATEMENT_COLUMNS}"),  # noqa: S608
        {"n": entries, "id": statement_id})).one()
    warnings = await _opening_warnings(session, statement_id, header)
    resources = []
    for bal in header.balances:
        if bal.type != "CLBD":
            continue
        code = currency_info(bal.currency).code
        before = (await session.execute(text(
            "SELECT balance, statement_id FROM client_money_resources WHERE as_of = :d AND kind = 'bank' "
            "AND account = :a AND currency = :c FOR UPDATE"),
            {"d": bal.as_of, "a": header.account, "c": code})).first()
        rid = await session.scalar(text(
            "INSERT INTO client_money_resources (as_of, kind, account, currency, balance, recorded_by, statement_id) "
            "VALUES (:d, 'bank', :a, :c, :b, :by, :s) ON CONFLICT (as_of, kind, account, currency) DO UPDATE SET "
            "balance = excluded.balance, recorded_by = excluded.recorded_by, recorded_at = now(), "
            "statement_id = excluded.statement_id RETURNING id"),
            {"d": bal.as_of, "a": header.account, "c": code, "b": bal.amount, "by": actor.user_id,
             "s": statement_id})
        await audit.record(session, actor, action="reconciliation.client_money.resource",
                           entity_type="client_money_resource", entity_id=int(rid),
                           before={"balance": str(before.balance), "statement_id": before.statement_id}
                           if before is not None else None,
                           after={"as_of": bal.as_of.isoformat(), "kind": "bank", "account": header.account,
                                  "currency": code, "balance": str(bal.amount), "statement_id": statement_id})
        resources.append({"currency": code, "as_of": bal.as_of.isoformat(), "balance": str(bal.amount)})
    await audit.record(session, actor, action="reconciliation.bank_statement.import", entity_type="bank_statement",
                       entity_id=statement_id,
                       after={"iban": header.account, "statement_id": header.statement_id, "entries": entries,
                              "sha256": row.sha256, "version": row.version, "resources": resources,
                              "warnings": [w.code + ":" + w.currency for w in warnings]})
    return _view(row, header.balances), warnings


async def _opening_warnings(session: AsyncSession, statement_id: int, header: Header) -> list[Warning]:
    """Each opening booked balance against the closing balance of the account's previous statement (by closing
    date, then electronic sequence number)."""
    rows = (await session.execute(text(PREVIOUS_CLOSING + " WHERE s.id = :id"), {"id": statement_id})).all()
    return [Warning("OPENING_BALANCE_MISMATCH", header.statement_id, r.currency,
                    f"opening balance {r.opening} {r.currency} differs from the closing balance {r.previous} of "
                    f"statement {r.previous_statement}", Decimal(r.opening), Decimal(r.previous),
                    r.previous_statement)
            for r in rows if r.opening != r.previous]


# The previous statement's closing balance for each opening balance of the statements selected by the caller's
# WHERE (alias s): shared with the run's bank section (sections.BANK).
PREVIOUS_CLOSING = """
    SELECT s.id, s.iban, s.statement_id, s.closing_date, o.currency, o.amount AS opening, prev.amount AS previous,
           prev.statement_id AS previous_statement, prev.id AS previous_id
    FROM bank_statements s
    JOIN bank_statement_balances o ON o.statement_id = s.id AND o.type = 'OPBD'
    JOIN LATERAL (
        SELECT c.amount, p.statement_id, p.id FROM bank_statements p
        JOIN bank_statement_balances c ON c.statement_id = p.id AND c.type = 'CLBD' AND c.currency = o.currency
        WHERE p.iban = s.iban AND p.id <> s.id
          AND (p.closing_date, coalesce(p.electronic_seq, 0), p.id)
              < (s.closing_date, coalesce(s.electronic_seq, 0), s.id)
        ORDER BY p.closing_date DESC, coalesce(p.electronic_seq, 0) DESC, p.id DESC LIMIT 1
    ) prev ON true
"""


def _view(r: Any, balances: list[Balance]) -> StatementView:
    return StatementView(int(r.id), r.iban, r.statement_id, r.electronic_seq, r.version, r.message_id, r.created_at,
                         r.closing_date, int(r.entry_count), r.sha256, r.imported_by, r.imported_at, balances)


async def list_statements(session: AsyncSession, *, iban: str | None, page: PageRequest) -> Page[StatementView]:
    """Imported statements, newest import first, each with its balances."""
    conds, params = [], {}
    if iban is not None:
        conds.append("iban = :a")
        params["a"] = iban.strip().upper()
    found = await sql_page(session, page, columns=_STATEMENT_COLUMNS, source="bank_statements", where=conds,
                           params=params, key=("imported_at", "id"), descending=True, convert=lambda r: r)
    ids = [int(r.id) for r in found.items]
    rows = (await session.execute(text(
        "SELECT statement_id, type, currency, amount, as_of FROM bank_statement_balances "
        "WHERE statement_id = ANY(:ids) ORDER BY statement_id, type DESC, currency"), {"ids": ids})).all()
    balances: dict[int, list[Balance]] = {}
    for b in rows:
        balances.setdefault(int(b.statement_id), []).append(Balance(b.type, b.currency, Decimal(b.amount), b.as_of))
    return replace(found, items=[_view(r, balances.get(int(r.id), [])) for r in found.items])


@dataclass(frozen=True)
class EntryView:
    statement_id: int
    line_no: int
    amount: Decimal  # signed: a debit is negative
    currency: str
    status: str
    booking_date: date | None
    value_date: date | None
    acct_svcr_ref: str | None
    end_to_end_id: str | None
    remittance: str
    reference: str | None


async def list_entries(session: AsyncSession, *, statement_id: int, page: PageRequest) -> Page[EntryView]:
    """A statement's entries in the bank's order (its primary key); an unknown statement has none."""
    return await sql_page(
        session, page, source="bank_statement_entries", where=["statement_id = :s"], params={"s": statement_id},
        columns="statement_id, line_no, CASE WHEN credit THEN amount ELSE -amount END AS amount, currency, status, "
                "booking_date, value_date, acct_svcr_ref, end_to_end_id, remittance, reference",
        key=("statement_id", "line_no"), descending=False,
        convert=lambda r: EntryView(int(r.statement_id), int(r.line_no), Decimal(r.amount), r.currency, r.status,
                                    r.booking_date, r.value_date, r.acct_svcr_ref, r.end_to_end_id, r.remittance,
                                    r.reference))
