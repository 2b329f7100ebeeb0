"""The MiFIR transaction report document (`auth.016.001.01`, ESMA Reporting 1.1.0) written incrementally,
one `<Tx><New>` per deal, and its ESMA business application header. No database here.

What a report says (RTS 22 Annex I; the broker deals on own account against its client, a CFD off venue):
- TxId: S<server>D<deal> (unique per firm, the same on a correction: a rejected report was never accepted);
- executing and submitting entity: the broker's LEI; investment firm covered by MiFID (InvstmtPtyInd true);
- buyer and seller: the client (natural person: first name, surname, birth date and national client
  identifier, NIDN or CONCAT; legal entity: LEI) on the side of its deal, the broker (LEI) on the other;
- trading capacity DEAL, quantity in units (lots x contract size), price in the quote currency, venue XOFF;
- the instrument by description (no ISIN of its own): name, CFI, notional currency, price multiplier 1, the
  underlying by ISIN when known (else by index name), cash delivery;
- execution within the firm: NORE (the client decided and the platform executed it, no person or algorithm
  of the firm chose), no transmission of order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO
from xml.sax.saxutils import escape

from domain.regulatory.emir.writer import _num  # one number format for every regulatory document

NS = "urn:iso:std:iso:20022:tech:xsd:auth.016.001.01"
HEAD_NS = "urn:iso:std:iso:20022:tech:xsd:head.001.001.01"
MESSAGE = "auth.016.001.01"
PART_SIZE = 2_500  # as EMIR (emir/writer.py): a parsed part stays about 30 MB beside the next one
OFF_VENUE = "XOFF"


@dataclass(frozen=True)
class Person:
    """The client: ('LEI', lei) or ('NIDN'|'CONCAT', identifier, first name, surname, birth date)."""

    scheme: str
    identifier: str
    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None


@dataclass(slots=True)  # not frozen: one per deal, a million a day, and a frozen __init__ costs twice as much
class Tx:
    tx_ref: str
    server_id: int
    deal_id: int
    client_buys: bool
    client: Person
    traded_at: datetime
    quantity: Decimal
    price: Decimal
    currency: str
    name: str
    cfi: str
    underlying_isin: str | None
    underlying_name: str


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _party(lei: str, client: Person | None) -> str:
    if client is None:
        return f"<AcctOwnr><Id><LEI>{lei}</LEI></Id></AcctOwnr>"
    if client.scheme == "LEI":
        return f"<AcctOwnr><Id><LEI>{client.identifier}</LEI></Id></AcctOwnr>"
    scheme = "<Prtry>CONCAT</Prtry>" if client.scheme == "CONCAT" else f"<Cd>{client.scheme}</Cd>"
    birth = client.birth_date.isoformat() if client.birth_date else ""
    return (f"<AcctOwnr><Id><Prsn><FrstNm>{escape(client.first_name[:140])}</FrstNm>"
            f"<Nm>{escape(client.last_name[:140])}</Nm><BirthDt>{birth}</BirthDt><Othr><Id>{client.identifier}</Id>"
            f"<SchmeNm>{scheme}</SchmeNm></Othr></Prsn></Id></AcctOwnr>")


def report(lei: str, tx: Tx) -> str:
    """One `<Tx>` element."""
    buyer = _party(lei, tx.client if tx.client_buys else None)
    seller = _party(lei, None if tx.client_buys else tx.client)
    if tx.underlying_isin:
        underlying = f"<Sngl><ISIN>{tx.underlying_isin}</ISIN></Sngl>"
    else:
        underlying = f"<Sngl><Indx><Nm><RefRate><Nm>{escape(tx.underlying_name[:25])}</Nm></RefRate></Nm></Indx></Sngl>"
    ccy = tx.currency
    return (f"<Tx><New><TxId>{tx.tx_ref}</TxId><ExctgPty>{lei}</ExctgPty><InvstmtPtyInd>true</InvstmtPtyInd>"
            f"<SubmitgPty>{lei}</SubmitgPty><Buyr>{buyer}</Buyr><Sellr>{seller}</Sellr>"
            f"<OrdrTrnsmssn><TrnsmssnInd>false</TrnsmssnInd></OrdrTrnsmssn>"
            f"<Tx><TradDt>{_ts(tx.traded_at)}</TradDt><TradgCpcty>DEAL</TradgCpcty>"
            f"<Qty><Unit>{_num(tx.quantity, 17)}</Unit></Qty>"
            f"<Pric><Pric><MntryVal><Amt Ccy=\"{ccy}\">{_num(tx.price, 13)}</Amt></MntryVal></Pric></Pric>"
            f"<TradVn>{OFF_VENUE}</TradVn></Tx>"
            f"<FinInstrm><Othr><FinInstrmGnlAttrbts><FullNm>{escape(tx.name[:350])}</FullNm>"
            f"<ClssfctnTp>{tx.cfi}</ClssfctnTp><NtnlCcy>{ccy}</NtnlCcy></FinInstrmGnlAttrbts>"
            f"<DerivInstrmAttrbts><PricMltplr>1</PricMltplr><UndrlygInstrm><Othr>{underlying}</Othr></UndrlygInstrm>"
            f"<DlvryTp>CASH</DlvryTp></DerivInstrmAttrbts></Othr></FinInstrm>"
            f"<ExctgPrsn><Clnt>NORE</Clnt></ExctgPrsn><AddtlAttrbts><SctiesFincgTxInd>false</SctiesFincgTxInd>"
            f"</AddtlAttrbts></New></Tx>")


def write_document(out: IO[bytes], lei: str, txs: list[Tx], *, flush_every: int = 500) -> None:
    out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><FinInstrmRptgTxRpt>'.encode())
    for start in range(0, len(txs), flush_every):
        out.write("".join(report(lei, tx) for tx in txs[start:start + flush_every]).encode())
    out.write(b"</FinInstrmRptgTxRpt></Document>\n")


def header(sender_lei: str, receiver: str, message_id: str, created: datetime) -> bytes:
    """ESMA's MiFIR header: from the firm (its LEI), to the competent authority (its country code)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<AppHdr xmlns="{HEAD_NS}"><Fr><OrgId><Id><OrgId><Othr><Id>'
            f"{sender_lei}</Id><SchmeNm><Prtry>LEI</Prtry></SchmeNm></Othr></OrgId></Id></OrgId></Fr><To><OrgId><Id>"
            f"<OrgId><Othr><Id>{receiver}</Id><SchmeNm><Prtry>NCA</Prtry></SchmeNm></Othr></OrgId></Id></OrgId></To>"
            f"<BizMsgIdr>{escape(message_id)}</BizMsgIdr><MsgDefIdr>{MESSAGE}</MsgDefIdr>"
            f"<CreDt>{created.strftime('%Y-%m-%dT%H:%M:%S')}Z</CreDt></AppHdr>\n").encode()
