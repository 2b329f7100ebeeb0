"""The EMIR REFIT trade report document (`auth.030.001.03`, ESMA DATTAR 1.1.0) written incrementally from
report lines, and its ESMA business application header (`head.001.001.01`).

The document is written line by line into a file: each report is one pre-shaped fragment with its values
escaped, so memory does not grow with the number of reports (a file holds at most PART_SIZE of them: the
schema allows 100,000 reports per document, and a smaller part keeps each file, its encryption and its
upload bounded). No database here.

What a line says (trade level, `Lvl` TCTN; the derivative is one MT5 position, its UTI kept in
regulatory_utis):
- the broker is the reporting counterparty (its LEI, its sector, the opposite side of the client), the client
  the other counterparty (LEI for a legal entity, else the national client identifier and its country);
- `New` (event TRAD) when the position opened that day, with the volume still open at the end of the day (or
  the volume opened when it was closed the same day, followed by `Termntn`);
- `Mod` (event TRAD) when the volume changed, with the notional of what remains at the day's last price;
- `Termntn` (event ETRM, early termination date the day) when it was closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:auth.030.001.03"
HEAD_NS = "urn:iso:std:iso:20022:tech:xsd:head.001.001.01"
MESSAGE = "auth.030.001.03"
PART_SIZE = 2_500  # reports per file (the schema allows 100,000; a part stays small to encrypt, upload, explain,
# and its parsed tree, about 30 MB, small while the next part is written beside it: parts.PartWriter)


@dataclass(frozen=True)
class Party:
    """The other counterparty: ('LEI', lei, None) or ('NTRL', national client identifier, country)."""

    kind: str
    identifier: str
    country: str | None = None


@dataclass(slots=True)  # not frozen: a million are made for a day, and a frozen __init__ costs twice as much
class Line:
    action: str  # NEWT, MODI, TERM
    uti: str
    server_id: int
    position_id: int
    deal_ids: tuple[int, ...]
    volume_after: Decimal
    broker_side: str  # BYER or SLLR: the broker's side (the client's opposite)
    party: Party
    asset_class: str  # EMIR: CURR, EQUI, COMM, INTR, CRDT
    cfi: str
    crypto: bool
    currency: str  # notional and settlement currency (the instrument's quote currency)
    price: Decimal
    notional: Decimal
    quantity: Decimal
    executed_at: datetime
    effective: date
    event_day: date


@dataclass(frozen=True)
class Reporter:
    lei: str
    submitting_agent_lei: str
    sector: str
    master_agreement: str


def _num(value: Decimal, places: int) -> str:
    text = f"{round(value, places):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def _parties(r: Reporter, line: Line, full: bool) -> str:
    lei = f"<Id><Lgl><Id><LEI>{r.lei}</LEI></Id></Lgl></Id>"
    p = line.party
    if p.kind == "LEI":
        other = f"<Lgl><Id><LEI>{p.identifier}</LEI></Id></Lgl>"
    else:
        country = f"<Ctry>{p.country}</Ctry>" if p.country else ""
        other = f"<Ntrl><Id><Id><Id>{escape(p.identifier)}</Id></Id></Id>{country}</Ntrl>"
    agent = f"<SubmitgAgt><LEI>{r.submitting_agent_lei}</LEI></SubmitgAgt>"
    responsible = f"<NttyRspnsblForRpt><LEI>{r.lei}</LEI></NttyRspnsblForRpt>"
    if not full:  # Termntn: identification only
        return (f"<CtrPtySpcfcData><CtrPty><RptgCtrPty>{lei}</RptgCtrPty><OthrCtrPty><IdTp>{other}</IdTp>"
                f"</OthrCtrPty>{agent}{responsible}</CtrPty></CtrPtySpcfcData>")
    nature = f"<Ntr><FI><Sctr><Cd>{r.sector}</Cd></Sctr><ClrThrshld>true</ClrThrshld></FI></Ntr>"
    return (f"<CtrPtySpcfcData><CtrPty><RptgCtrPty>{lei}{nature}<DrctnOrSd><CtrPtySd>{line.broker_side}</CtrPtySd>"
            f"</DrctnOrSd></RptgCtrPty><OthrCtrPty><IdTp>{other}</IdTp><RptgOblgtn>false</RptgOblgtn></OthrCtrPty>"
            f"{agent}{responsible}</CtrPty></CtrPtySpcfcData>")


def report(r: Reporter, line: Line, agreement: str) -> str:
    """One `<Rpt>` element (agreement: the master agreement's name, already escaped)."""
    uti = f"<TxId><UnqTxIdr>{line.uti}</UnqTxIdr></TxId>"
    day = line.event_day.isoformat()
    if line.action == "TERM":
        return (f"<Rpt><Termntn>{_parties(r, line, False)}<CmonTradData><TxData>{uti}"
                f"<EarlyTermntnDt>{day}</EarlyTermntnDt><DerivEvt><Tp>ETRM</Tp><TmStmp><Dt>{day}</Dt></TmStmp>"
                f"</DerivEvt></TxData></CmonTradData><Lvl>TCTN</Lvl></Termntn></Rpt>")
    tag = "New" if line.action == "NEWT" else "Mod"
    ccy = line.currency
    return (f"<Rpt><{tag}>{_parties(r, line, True)}<CmonTradData><CtrctData><CtrctTp>CFDS</CtrctTp>"
            f"<AsstClss>{line.asset_class}</AsstClss><PdctClssfctn>{line.cfi}</PdctClssfctn>"
            f"<SttlmCcy><Ccy>{ccy}</Ccy></SttlmCcy>"
            f"<DerivBasedOnCrptAsst>{'true' if line.crypto else 'false'}</DerivBasedOnCrptAsst></CtrctData>"
            f"<TxData>{uti}<CollPrtflCd><Prtfl><NoPrtfl>NOAP</NoPrtfl></Prtfl></CollPrtflCd>"
            f"<PltfmIdr>XXXX</PltfmIdr><TxPric><Pric><MntryVal><Amt Ccy=\"{ccy}\">{_num(line.price, 13)}</Amt>"
            f"</MntryVal></Pric></TxPric><NtnlAmt><FrstLeg><Amt><Amt Ccy=\"{ccy}\">{_num(line.notional, 5)}</Amt>"
            f"</Amt></FrstLeg></NtnlAmt><NtnlQty><FrstLeg><TtlQty>{_num(line.quantity, 8)}</TtlQty></FrstLeg>"
            f"</NtnlQty><DlvryTp>CASH</DlvryTp><ExctnTmStmp>{_ts(line.executed_at)}</ExctnTmStmp>"
            f"<FctvDt>{line.effective.isoformat()}</FctvDt><MstrAgrmt><Tp><Tp>OTHR</Tp></Tp>"
            f"<OthrMstrAgrmtDtls>{agreement}</OthrMstrAgrmtDtls></MstrAgrmt>"
            f"<DerivEvt><Tp>TRAD</Tp><TmStmp><Dt>{day}</Dt></TmStmp></DerivEvt>"
            f"<TradClr><ClrOblgtn>FLSE</ClrOblgtn><ClrSts><NonClrd><Rsn>NORE</Rsn></NonClrd></ClrSts>"
            f"<IntraGrp>false</IntraGrp></TradClr></TxData></CmonTradData><Lvl>TCTN</Lvl></{tag}></Rpt>")


def write_document(out: IO[bytes], r: Reporter, lines: list[Line], *, flush_every: int = 500) -> None:
    """The whole document for these lines, written in slices of `flush_every` reports."""
    agreement = escape(r.master_agreement)
    out.write((f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><DerivsTradRpt><RptHdr>'
               f"<NbRcrds>{len(lines)}</NbRcrds></RptHdr><TradData>").encode())
    for start in range(0, len(lines), flush_every):
        out.write("".join(report(r, line, agreement) for line in lines[start:start + flush_every]).encode())
    out.write(b"</TradData></DerivsTradRpt></Document>\n")


def header(sender_lei: str, receiver_lei: str, message_id: str, created: datetime) -> bytes:
    """The ESMA business application header of one document (sender, receiver, message id, UTC time)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<AppHdr xmlns="{HEAD_NS}"><Fr><OrgId><Id><OrgId><Othr><Id>'
            f"{sender_lei}</Id></Othr></OrgId></Id></OrgId></Fr><To><OrgId><Id><OrgId><Othr><Id>{receiver_lei}</Id>"
            f"</Othr></OrgId></Id></OrgId></To><BizMsgIdr>{escape(message_id)}</BizMsgIdr>"
            f"<MsgDefIdr>{MESSAGE}</MsgDefIdr><CreDt>{_ts(created)}</CreDt></AppHdr>\n").encode()
