"""Bank statements for the external client-money reconciliation: ISO 20022 camt.053 (v02 `camt.053.001.02` and
v08 `camt.053.001.08`), validated against the official XSD (domain/reconciliation/data, provenance in
shared/reference/xsd/README.md §4) while it is read, and stored.

Reading is one streaming pass (lxml `iterparse` with the schema, so libxml2 validates as it parses): each `Ntry`
is turned into a row and dropped with the siblings before it, and rows go to the database by COPY a batch at a
time, so memory is bounded by a batch whatever the statement's size. A schema error can only be known when the
parser reaches it, possibly after rows were copied: the whole import is one transaction, so a refused file
(schema-invalid, a duplicate statement, an unknown currency) leaves nothing behind. The parser runs in a worker
thread a batch at a time, the event loop keeps serving while a large file is read.

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
import re
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.payments.reference import find_reference
from domain.reconciliation.errors import StatementDuplicate, StatementInvalid
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.shared.money import currency as currency_info
from domain.shared.pagination import Page, PageRequest, sql_page
from domain.shared.xsd import MAX_MESSAGE

DATA = Path(__file__).parent / "data"
VERSIONS = {"02": DATA / "camt.053.001.02.xsd", "08": DATA / "camt.053.001.08.xsd"}
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.{}"
_SNIFF = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)")
SNIFF_BYTES = 64 * 1024
BATCH = 5000
RECHECK_BYTES = 32 * 1024 * 1024  # a refused file up to this size is parsed again for its error's line
MAX_REMITTANCE = 2000
ENTRY_COLUMNS = ("statement_id", "line_no", "amount", "currency", "credit", "status", "booking_date", "value_date",
                 "acct_svcr_ref", "end_to_end_id", "remittance", "reference")


_LOCAL = threading.local()
# Every statement is parsed on this one thread: lxml ties a document's names to the thread that parsed it, so a
# document must not move between the pool threads asyncio.to_thread would pick (freeing it elsewhere crashes).
_PARSER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camt053")


def schema(version: str) -> etree.XMLSchema:
    """The version's XSD, compiled once per thread."""
    cached: dict[str, etree.XMLSchema] = _LOCAL.__dict__.setdefault("schemas", {})
    if version not in cached:
        cached[version] = etree.XMLSchema(etree.parse(str(VERSIONS[version])))
    return cached[version]


@dataclass(frozen=True)
class Balance:
    type: str  # OPBD | CLBD
    currency: str
    amount: Decimal  # signed: a DBIT balance is negative
    as_of: date


@dataclass
class Header:
    statement_id: str
    electronic_seq: Decimal | None
    account: str
    created_at: datetime | None
    from_at: datetime | None
    to_at: datetime | None
    balances: list[Balance] = field(default_factory=list)


@dataclass(frozen=True)
class StatementEnd:
    entries: int


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


def sniff_version(head: bytes) -> str:
    """The camt.053 version the document declares (its namespace, in the first bytes)."""
    found = _SNIFF.search(head)
    if found is None or found.group(1).decode() not in VERSIONS:
        raise StatementInvalid("not an ISO 20022 camt.053.001.02 or camt.053.001.08 document", field="file")
    return found.group(1).decode()


def _decimal(raw: str | None, what: str) -> Decimal:
    try:
        return Decimal((raw or "").strip())
    except InvalidOperation:  # the XSD already refused it; kept for a document read without one
        raise StatementInvalid(f"{what}: {raw!r} is not an amount", field="file") from None


def _date_of(node: etree._Element | None, ns: str) -> date | None:
    """A DateAndDateTimeChoice: Dt, or the date of DtTm."""
    if node is None:
        return None
    raw = node.findtext(ns + "Dt") or (node.findtext(ns + "DtTm") or "")[:10]
    return date.fromisoformat(raw) if raw else None


def _instant(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _header(stmt: etree._Element, ns: str) -> Header:
    acct = stmt.find(ns + "Acct")
    ident = acct.find(ns + "Id") if acct is not None else None
    account = ""
    if ident is not None:
        account = ident.findtext(ns + "IBAN") or ident.findtext(f"{ns}Othr/{ns}Id") or ""
    seq = stmt.findtext(ns + "ElctrncSeqNb")
    span = stmt.find(ns + "FrToDt")
    return Header(
        statement_id=(stmt.findtext(ns + "Id") or "").strip(), account=account.strip(),
        electronic_seq=Decimal(seq) if seq else None, created_at=_instant(stmt.findtext(ns + "CreDtTm")),
        from_at=_instant(span.findtext(ns + "FrDtTm")) if span is not None else None,
        to_at=_instant(span.findtext(ns + "ToDtTm")) if span is not None else None)


def _balance(bal: etree._Element, ns: str) -> Balance | None:
    kind = bal.findtext(f"{ns}Tp/{ns}CdOrPrtry/{ns}Cd")
    if kind not in ("OPBD", "CLBD"):
        return None  # interim, available and other balances are not kept
    amt = bal.find(ns + "Amt")
    assert amt is not None  # required by the schema
    amount = _decimal(amt.text, f"{kind} balance")
    if bal.findtext(ns + "CdtDbtInd") == "DBIT":
        amount = -amount
    day = _date_of(bal.find(ns + "Dt"), ns)
    assert day is not None  # required by the schema
    return Balance(kind, str(amt.get("Ccy")), amount, day)


@cache
def _names(ns: str) -> dict[str, str]:
    return {name: ns + name for name in ("Amt", "CdtDbtInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "NtryDtls",
                                         "AddtlNtryInf", "EndToEndId", "Ustrd", "Ref", "Cd", "Prtry")}


def _day(node: etree._Element) -> date | None:
    """A DateAndDateTimeChoice's date (Dt, or the date of DtTm)."""
    raw = node[0].text if len(node) else None
    return date.fromisoformat(raw[:10]) if raw else None


def _entry(ntry: etree._Element, ns: str, line_no: int) -> tuple[Any, ...]:
    """An entry as the row COPY writes (statement id filled in by the caller): one pass over its children (the
    schema fixed their order and cardinality), the first transaction's EndToEndId, every remittance line."""
    n = _names(ns)
    amount, ccy, credit, status = "", "", False, ""
    booked = valued = None
    svcr = end_to_end = None
    parts: list[str] = []
    for child in ntry:
        tag = child.tag
        if tag == n["Amt"]:
            amount, ccy = child.text or "", str(child.get("Ccy"))
        elif tag == n["CdtDbtInd"]:
            credit = child.text == "CRDT"
        elif tag == n["Sts"]:  # v02: <Sts>BOOK</Sts>; v08: <Sts><Cd>BOOK</Cd></Sts>
            status = (child[0].text if len(child) else child.text) or ""
        elif tag == n["BookgDt"]:
            booked = _day(child)
        elif tag == n["ValDt"]:
            valued = _day(child)
        elif tag == n["AcctSvcrRef"]:
            svcr = (child.text or "").strip() or None
        elif tag == n["NtryDtls"]:
            for e in child.iter(n["EndToEndId"], n["Ustrd"], n["Ref"]):
                if e.tag == n["EndToEndId"]:
                    end_to_end = end_to_end or (e.text or "").strip() or None
                elif e.text and e.text.strip():
                    parts.append(e.text.strip())
        elif tag == n["AddtlNtryInf"] and child.text and child.text.strip():
            parts.append(child.text.strip())
    remittance = " ".join(parts)[:MAX_REMITTANCE]
    reference = find_reference(f"{end_to_end} {remittance}") if end_to_end or remittance else None
    return (line_no, _decimal(amount, f"entry {line_no}"), ccy, credit, status.strip()[:4], booked, valued, svcr,
            end_to_end, remittance, reference)


def _drop(element: etree._Element) -> None:
    """Free a handled element and every sibling before it (iterparse keeps the tree it built)."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


Item = Header | list[tuple[Any, ...]] | StatementEnd | str


def read(path: Path, version: str, *, batch: int = BATCH) -> Generator[Item, None, None]:
    """The document as a stream: the message id (str), then per statement its Header (balances included), its
    entries in lists of at most `batch`, and a StatementEnd. Raises StatementInvalid with the XSD's line and
    message as soon as the parser meets an error."""
    ns = "{" + NAMESPACE.format(version) + "}"
    tags = {ns + t for t in ("Ntry", "Bal", "Stmt", "MsgId")}
    parser = etree.iterparse(str(path), events=("end",), tag=tags, schema=schema(version), huge_tree=True,
                             resolve_entities=False, no_network=True, load_dtd=False)
    header: Header | None = None
    balances: list[Balance] = []
    rows: list[tuple[Any, ...]] = []
    count = 0
    near = 0
    try:
        for _, element in parser:
            tag = element.tag
            near = element.sourceline or near
            if tag == ns + "Ntry":
                if header is None:
                    header = _header(element.getparent(), ns)
                    header.balances = balances
                    yield header
                count += 1
                rows.append(_entry(element, ns, count))
                _drop(element)
                if len(rows) >= batch:
                    yield rows
                    rows = []
            elif tag == ns + "Bal":
                found = _balance(element, ns)
                if found is not None:
                    balances.append(found)
            elif tag == ns + "Stmt":
                if header is None:
                    header = _header(element, ns)
                    header.balances = balances
                    yield header
                if rows:
                    yield rows
                yield StatementEnd(count)
                _drop(element)
                header, balances, rows, count = None, [], [], 0
            elif tag == ns + "MsgId" and element.getparent() is not None \
                    and element.getparent().tag == ns + "GrpHdr":
                yield (element.text or "").strip()
    except etree.XMLSyntaxError as failure:
        raise StatementInvalid(_located(path, version, failure, near)[:MAX_MESSAGE], field="file") from None


def _located(path: Path, version: str, failure: etree.XMLSyntaxError, near: int) -> str:
    """`line N: <the XSD's message>`. libxml2's streamed validation reports no line (0), so a file small enough
    (RECHECK_BYTES) is validated again as a tree, which does; a larger one is located after the last element
    read. Only a refused file pays for this."""
    if failure.lineno:  # not well-formed: the parser knows the line
        return f"line {failure.lineno}: {failure.msg}"
    if path.stat().st_size <= RECHECK_BYTES:
        try:
            tree = etree.parse(str(path), etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True,
                                                          load_dtd=False))
        except etree.XMLSyntaxError as again:
            return f"line {again.lineno}: {again.msg}"
        xsd = schema(version)
        if not xsd.validate(tree):
            first = xsd.error_log[0]
            return f"line {first.line}: {first.message}"
    return f"after line {near}: {failure.msg}"


def _parse_ahead(items: Iterator[Any]) -> asyncio.Future[Any]:
    """The next item, parsed on the parser thread while the caller stores the current one."""
    return asyncio.get_running_loop().run_in_executor(_PARSER_THREAD, next, items, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


_STATEMENT_COLUMNS = ("id, iban, statement_id, electronic_seq, version, message_id, created_at, closing_date, "
                      "entry_count, sha256, imported_by, imported_at")


async def import_file(session: AsyncSession, actor: Actor, path: Path) -> ImportResult:
    """Validate, read and store every statement of the file; the caller owns the transaction (a refusal rolls
    everything back). The next batch is parsed while the current one is copied."""
    with path.open("rb") as f:
        version = sniff_version(f.read(SNIFF_BYTES))
    sha = await asyncio.to_thread(_sha256, path)
    conn = await driver(session)
    items = read(path, version)
    ahead = [_parse_ahead(items)]  # the parse under way (_store moves it on)
    try:
        return await _store(session, actor, items, ahead, version, sha, conn)
    finally:
        # the parse under way ends (its error, if any, was raised through _store or no longer matters), then the
        # generator and the tree it holds are let go on their own thread
        await asyncio.gather(ahead[0], return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(_PARSER_THREAD, items.close)


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
