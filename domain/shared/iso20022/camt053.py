"""ISO 20022 camt.053 bank statements (v02 `camt.053.001.02` and v08 `camt.053.001.08`) read as a stream and
validated against the official XSD (./data, provenance in shared/reference/xsd/README.md §4) while read: the one
camt.053 parser of the code base. The client-money reconciliation stores what it yields
(domain/reconciliation/camt.py), the payments' statement import matches its entries to wire payments
(domain/payments/statements.py).

Reading is one pass (lxml `iterparse` with the schema, so libxml2 validates as it parses): each `Ntry` becomes
an `Entry` and is dropped with the siblings before it, so memory is bounded by a batch whatever the statement's
size. A schema error is only known when the parser reaches it: `Invalid` carries `line N: <the XSD's message>`,
and each caller turns it into its own typed error (a caller keeps its work in one transaction, so a refused file
leaves nothing behind).

lxml ties a document's names to the thread that parsed it, so every statement is parsed on the one thread
`PARSER_THREAD` (a document must not move between the pool threads asyncio.to_thread would pick).
"""

from __future__ import annotations

import asyncio
import io
import re
import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from lxml import etree

from domain.shared.xsd import MAX_MESSAGE

DATA = Path(__file__).parent / "data"
VERSIONS = {"02": DATA / "camt.053.001.02.xsd", "08": DATA / "camt.053.001.08.xsd"}
NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.{}"
_SNIFF = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)")
SNIFF_BYTES = 64 * 1024
BATCH = 5000
RECHECK_BYTES = 32 * 1024 * 1024  # a refused file up to this size is parsed again for its error's line
MAX_REMITTANCE = 2000

_LOCAL = threading.local()
PARSER_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camt053")

Source = Path | bytes  # a file, or a document held in memory


class Invalid(Exception):
    """Not a camt.053.001.02/.08 document valid against its XSD; the message names the line."""

    def __init__(self, message: str) -> None:
        super().__init__(message[:MAX_MESSAGE])
        self.message = message[:MAX_MESSAGE]


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


@dataclass(frozen=True, slots=True)
class Entry:
    """One `Ntry`. `remittance` is every remittance line of the entry (Ustrd and structured Ref of all its
    transactions, then AddtlNtryInf); `payer_name`, `tx_remittance` (Ustrd and Ref) and `return_reason` (RtrInf:
    reason code or proprietary reason, additional information; "returned" when it gives none) are read from its
    first transaction (NtryDtls/TxDtls)."""

    line_no: int
    amount: Decimal  # unsigned; `credit` tells the side
    currency: str
    credit: bool
    status: str  # BOOK, PDNG, INFO (v02 code, v08 Sts/Cd)
    booking_date: date | None
    value_date: date | None
    acct_svcr_ref: str | None
    entry_ref: str | None  # NtryRef
    end_to_end_id: str | None  # the first transaction's
    remittance: str
    payer_name: str
    tx_remittance: str
    return_reason: str


def sniff_version(head: bytes) -> str:
    """The camt.053 version the document declares (its namespace, in the first bytes)."""
    found = _SNIFF.search(head)
    if found is None or found.group(1).decode() not in VERSIONS:
        raise Invalid("not an ISO 20022 camt.053.001.02 or camt.053.001.08 document")
    return found.group(1).decode()


def _decimal(raw: str | None, what: str) -> Decimal:
    try:
        return Decimal((raw or "").strip())
    except InvalidOperation:  # the XSD already refused it; kept for a document read without one
        raise Invalid(f"{what}: {raw!r} is not an amount") from None


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
    return {name: ns + name for name in ("Amt", "CdtDbtInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "NtryRef",
                                         "NtryDtls", "TxDtls", "AddtlNtryInf", "EndToEndId", "Ustrd", "Ref", "Cd",
                                         "Prtry", "RtrInf")}


@cache
def _paths(ns: str) -> dict[str, str]:
    return {"payer": f"{ns}RltdPties/{ns}Dbtr/{ns}Nm", "payer08": f"{ns}RltdPties/{ns}Dbtr/{ns}Pty/{ns}Nm",
            "code": f"{ns}Rsn/{ns}Cd", "prtry": f"{ns}Rsn/{ns}Prtry", "info": f"{ns}AddtlInf"}


def _day(node: etree._Element) -> date | None:
    """A DateAndDateTimeChoice's date (Dt, or the date of DtTm)."""
    raw = node[0].text if len(node) else None
    return date.fromisoformat(raw[:10]) if raw else None


def _first_transaction(tx: etree._Element, ns: str) -> tuple[str, str, str]:
    """The payer's name (v02 Dbtr/Nm, v08 Dbtr/Pty/Nm), the remittance (Ustrd and Ref) and the return reason."""
    n, p = _names(ns), _paths(ns)
    payer = (tx.findtext(p["payer"]) or tx.findtext(p["payer08"]) or "").strip()
    remittance = " ".join((e.text or "").strip() for e in tx.iter(n["Ustrd"], n["Ref"]))
    reason = ""
    rtr = tx.find(n["RtrInf"])
    if rtr is not None:
        reason = " ".join(x for x in ((rtr.findtext(p["code"]) or "").strip(), (rtr.findtext(p["prtry"]) or "").strip(),
                                      (rtr.findtext(p["info"]) or "").strip()) if x) or "returned"
    return payer, remittance, reason


def _entry(ntry: etree._Element, ns: str, line_no: int) -> Entry:
    """One pass over the entry's children (the schema fixed their order and cardinality)."""
    n = _names(ns)
    amount, ccy, credit, status = "", "", False, ""
    booked = valued = None
    svcr = ntry_ref = end_to_end = None
    payer, tx_remittance, reason = "", "", ""
    first = True
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
        elif tag == n["NtryRef"]:
            ntry_ref = (child.text or "").strip() or None
        elif tag == n["NtryDtls"]:
            if first:
                first = False
                tx = child.find(n["TxDtls"])
                if tx is not None:
                    payer, tx_remittance, reason = _first_transaction(tx, ns)
            for e in child.iter(n["EndToEndId"], n["Ustrd"], n["Ref"]):
                if e.tag == n["EndToEndId"]:
                    end_to_end = end_to_end or (e.text or "").strip() or None
                elif e.text and e.text.strip():
                    parts.append(e.text.strip())
        elif tag == n["AddtlNtryInf"] and child.text and child.text.strip():
            parts.append(child.text.strip())
    return Entry(line_no, _decimal(amount, f"entry {line_no}"), ccy, credit, status.strip(), booked, valued, svcr,
                 ntry_ref, end_to_end, " ".join(parts)[:MAX_REMITTANCE], payer, tx_remittance, reason)


def _drop(element: etree._Element) -> None:
    """Free a handled element and every sibling before it (iterparse keeps the tree it built)."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


Item = Header | list[Entry] | StatementEnd | str


def _open(source: Source) -> str | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, bytes) else str(source)


def read(source: Source, version: str, *, batch: int = BATCH) -> Generator[Item, None, None]:
    """The document as a stream: the message id (str), then per statement its Header (balances included), its
    entries in lists of at most `batch`, and a StatementEnd. Raises Invalid with the XSD's line and message as
    soon as the parser meets an error. Run it on PARSER_THREAD."""
    ns = "{" + NAMESPACE.format(version) + "}"
    tags = {ns + t for t in ("Ntry", "Bal", "Stmt", "MsgId")}
    parser = etree.iterparse(_open(source), events=("end",), tag=tags, schema=schema(version), huge_tree=True,
                             resolve_entities=False, no_network=True, load_dtd=False)
    header: Header | None = None
    balances: list[Balance] = []
    rows: list[Entry] = []
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
        raise Invalid(_located(source, version, failure, near)) from None


def _located(source: Source, version: str, failure: etree.XMLSyntaxError, near: int) -> str:
    """`line N: <the XSD's message>`. libxml2's streamed validation reports no line (0), so a document small
    enough (RECHECK_BYTES) is validated again as a tree, which does; a larger one is located after the last element
    read. Only a refused document pays for this."""
    if failure.lineno:  # not well-formed: the parser knows the line
        return f"line {failure.lineno}: {failure.msg}"
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    if size <= RECHECK_BYTES:
        try:
            tree = etree.parse(_open(source), etree.XMLParser(huge_tree=True, resolve_entities=False,
                                                              no_network=True, load_dtd=False))
        except etree.XMLSyntaxError as again:
            return f"line {again.lineno}: {again.msg}"
        xsd = schema(version)
        if not xsd.validate(tree):
            first = xsd.error_log[0]
            return f"line {first.line}: {first.message}"
    return f"after line {near}: {failure.msg}"


def _collect(document: bytes, limit: int) -> list[Entry]:
    version = sniff_version(document[:SNIFF_BYTES])
    found: list[Entry] = []
    items = read(document, version, batch=max(1, min(limit, BATCH)))
    try:
        for item in items:
            if isinstance(item, list):
                found.extend(item)
                if len(found) >= limit:
                    break
    finally:
        items.close()
    return found[:limit]


async def entries(document: bytes, *, limit: int) -> list[Entry]:
    """Every entry of every statement of a document held in memory, validated (Invalid otherwise), read on the
    parser thread; reading stops once `limit` entries are found (the caller refuses so many)."""
    return await asyncio.get_running_loop().run_in_executor(PARSER_THREAD, _collect, document, limit)
