"""camt.053 statements built for the tests and the bench: v02 (`camt.053.001.02`) and v08 (`camt.053.001.08`), the
shapes the two schemas require (v02 writes the entry status as a code, v08 as a choice)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Entry:
    amount: Decimal  # signed: > 0 a credit, < 0 a debit
    end_to_end: str | None = None
    remittance: str | None = None
    bank_ref: str | None = None
    status: str = "BOOK"
    booked: date | None = None
    currency: str | None = None  # the statement's unless given
    payer: str | None = None  # the debtor's name (RltdPties/Dbtr)
    return_code: str | None = None  # a returned payment: RtrInf/Rsn/Cd ...
    return_info: str | None = None  # ... and RtrInf/AddtlInf


def _amount(ccy: str, value: Decimal) -> str:
    return f'<Amt Ccy="{ccy}">{abs(value):f}</Amt><CdtDbtInd>{"CRDT" if value >= 0 else "DBIT"}</CdtDbtInd>'


def _balance(code: str, ccy: str, value: Decimal, day: date) -> str:
    return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amount(ccy, value)}"
            f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")


def _entry(version: str, ccy: str, e: Entry, day: date, n: int) -> str:
    status = f"<Sts>{e.status}</Sts>" if version == "02" else f"<Sts><Cd>{e.status}</Cd></Sts>"
    booked = (e.booked or day).isoformat()
    refs = f"<Refs><EndToEndId>{escape(e.end_to_end)}</EndToEndId></Refs>" if e.end_to_end else ""
    rmt = f"<RmtInf><Ustrd>{escape(e.remittance)}</Ustrd></RmtInf>" if e.remittance else ""
    name = f"<Nm>{escape(e.payer)}</Nm>" if e.payer else ""
    if name and version == "08":
        name = f"<Pty>{name}</Pty>"  # v08: Dbtr is a party choice
    parties = f"<RltdPties><Dbtr>{name}</Dbtr></RltdPties>" if name else ""
    rtr = ""
    if e.return_code or e.return_info:
        reason = f"<Rsn><Cd>{escape(e.return_code)}</Cd></Rsn>" if e.return_code else ""
        info = f"<AddtlInf>{escape(e.return_info)}</AddtlInf>" if e.return_info else ""
        rtr = f"<RtrInf>{reason}{info}</RtrInf>"
    tx = refs + parties + rmt + rtr
    details = f"<NtryDtls><TxDtls>{tx}</TxDtls></NtryDtls>" if tx else ""
    amount = _amount(e.currency or ccy, e.amount)
    return (f"<Ntry><NtryRef>{n}</NtryRef>{amount}{status}<BookgDt><Dt>{booked}</Dt></BookgDt>"
            f"<ValDt><Dt>{booked}</Dt></ValDt><AcctSvcrRef>{escape(e.bank_ref or f'BANK{n:08d}')}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"{details}</Ntry>")


def chunks(version: str, *, iban: str, statement_id: str, currency: str, opening: Decimal, day: date,
           entries: Iterable[Entry], closing: Decimal | None = None, seq: int | None = None,
           message_id: str | None = None) -> Iterator[str]:
    """The document in pieces (a large statement is written without holding it). `closing` defaults to the
    opening plus every booked entry; given, it must be known before the entries, so the caller passes it."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    yield (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}">\n<BkToCstmrStmt>'
           f"<GrpHdr><MsgId>{escape(message_id or 'MSG-' + statement_id)}</MsgId>"
           f"<CreDtTm>{day.isoformat()}T23:00:00Z</CreDtTm></GrpHdr>\n<Stmt><Id>{escape(statement_id)}</Id>")
    if seq is not None:
        yield f"<ElctrncSeqNb>{seq}</ElctrncSeqNb>"
    yield (f"<CreDtTm>{day.isoformat()}T23:00:00Z</CreDtTm><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy>"
           "</Acct>")
    listed = entries if closing is not None else list(entries)
    if closing is None:
        closing = opening + sum((e.amount for e in listed if e.status == "BOOK"), Decimal(0))
    yield _balance("OPBD", currency, opening, day) + _balance("CLBD", currency, closing, day) + "\n"
    for n, e in enumerate(listed, 1):
        yield _entry(version, currency, e, day, n) + "\n"
    yield "</Stmt></BkToCstmrStmt></Document>\n"


def statement(version: str, **kwargs: object) -> bytes:
    return "".join(chunks(version, **kwargs)).encode()  # type: ignore[arg-type]
