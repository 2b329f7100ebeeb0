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
- `Termntn` (event ETRM, early termination date the day) when it was closed;
- `ValtnUpd` (VALU) for every position still open at the day's close: its mark-to-market value (`MTMA`) from the
  broker's side, the price and time it was marked at captured when the day was first built
  (regulatory_valuations), so a rebuild of a past day says the same.
Collateral is posted per trading account (MT5 margins each account on its own): every report names the account's
portfolio (`CollPrtflCd/Prtfl/Cd`, S<server>L<login>). The underlying of a CFD on a share or an index
(`UndrlygInstrm`: the share's ISIN, or the index's ISIN and name) comes from the instrument's configuration.
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
    action: str  # NEWT, MODI, TERM, VALU
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
    portfolio: str = ""  # collateral portfolio code ("" none: NOAP)
    underlying: str = ""  # the UndrlygInstrm element, pre-rendered per instrument ("" unknown)
    value: Decimal = Decimal(0)  # VALU: mark-to-market value, broker's side, in `currency`
    valued_at: datetime | None = None  # VALU: the time of the price marked at


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


def underlying(asset_class: str, isin: str | None, index_name: str | None) -> str:
    """The UndrlygInstrm element of an instrument: an index by its ISIN and/or name, a share by its ISIN; "" when
    the configuration does not say (the element is optional)."""
    if asset_class == "indices" and (isin or index_name):
        name = f"<Nm>{escape(index_name)}</Nm>" if index_name else ""
        return f"<UndrlygInstrm><Indx>{f'<ISIN>{isin}</ISIN>' if isin else ''}{name}</Indx></UndrlygInstrm>"
    if isin:
        return f"<UndrlygInstrm><ISIN>{isin}</ISIN></UndrlygInstrm>"
    return ""


def portfolio_code(server_id: int, login: int) -> str:
    return f"S{server_id}L{login}"


def _portfolio(line: Line) -> str:
    inner = f"<Cd>{escape(line.portfolio)}</Cd>" if line.portfolio else "<NoPrtfl>NOAP</NoPrtfl>"
    return f"<CollPrtflCd><Prtfl>{inner}</Prtfl></CollPrtflCd>"


def _parties(r: Reporter, line: Line, full: bool, valuation: str = "") -> str:
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
                f"</OthrCtrPty>{agent}{responsible}</CtrPty>{valuation}</CtrPtySpcfcData>")
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
    if line.action == "VALU":
        sign = "false" if line.value < 0 else "true"
        stamp = _ts(line.valued_at or datetime.combine(line.event_day, datetime.min.time()))
        valuation = (f"<Valtn><CtrctVal><Amt Ccy=\"{line.currency}\">{_num(abs(line.value), 5)}</Amt>"
                     f"<Sgn>{sign}</Sgn></CtrctVal><TmStmp>{stamp}</TmStmp><Tp>MTMA</Tp></Valtn>")
        return (f"<Rpt><ValtnUpd>{_parties(r, line, False, valuation)}<CmonTradData><TxData>{uti}"
                f"{_portfolio(line)}<DerivEvt><TmStmp><Dt>{day}</Dt></TmStmp></DerivEvt></TxData></CmonTradData>"
                f"<Lvl>TCTN</Lvl></ValtnUpd></Rpt>")
    tag = "New" if line.action == "NEWT" else "Mod"
    ccy = line.currency
    return (f"<Rpt><{tag}>{_parties(r, line, True)}<CmonTradData><CtrctData><CtrctTp>CFDS</CtrctTp>"
            f"<AsstClss>{line.asset_class}</AsstClss><PdctClssfctn>{line.cfi}</PdctClssfctn>{line.underlying}"
            f"<SttlmCcy><Ccy>{ccy}</Ccy></SttlmCcy>"
            f"<DerivBasedOnCrptAsst>{'true' if line.crypto else 'false'}</DerivBasedOnCrptAsst></CtrctData>"
            f"<TxData>{uti}{_portfolio(line)}"
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
