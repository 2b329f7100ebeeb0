"""Whether an instrument's CFDs are MiFIR-reportable, and their underlying: the ISIN of the share or index, the
index's name (trading_instruments; both reported in EMIR's UndrlygInstrm, the ISIN in MiFIR).

Default (mifir_reportable NULL): derived from the asset class, CFDs on shares and indices reportable, the rest
(forex, metals, commodities, crypto...) not. Staff override per instrument, or clear the override (NULL again);
symbol sync (domain/trading/instruments.py) never touches these columns.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.regulatory.mifir.build import REPORTABLE_CLASSES
from domain.shared.actor import Actor
from domain.shared.errors import FieldErrors, NotFound, ValidationFailed

ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def isin_ok(value: str) -> bool:
    """ISO 6166: letters as numbers (A=10 ... Z=35), then the Luhn check over the digits."""
    if not ISIN.fullmatch(value):
        return False
    digits = "".join(str(int(c, 36)) for c in value[:-1])
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10 == int(value[-1])


@dataclass(frozen=True)
class InstrumentReporting:
    server_id: int
    symbol: str
    asset_class: str
    mifir_reportable: bool
    overridden: bool
    underlying_isin: str | None
    underlying_index_name: str | None = None


INDEX_NAME_MAX = 50  # EMIR Max50Text
INDEX_CLASS = "indices"


async def get(session: AsyncSession, server_id: int, symbol: str) -> InstrumentReporting:
    row = (await session.execute(text(
        "SELECT server_id, symbol, asset_class, mifir_reportable, underlying_isin, underlying_index_name "
        "FROM trading_instruments "
        "WHERE server_id = :s AND symbol = :y"), {"s": server_id, "y": symbol})).first()
    if row is None:
        raise NotFound("no such instrument on this server", field="symbol")
    derived = row.asset_class in REPORTABLE_CLASSES
    return InstrumentReporting(row.server_id, row.symbol, row.asset_class,
                               derived if row.mifir_reportable is None else bool(row.mifir_reportable),
                               row.mifir_reportable is not None, (row.underlying_isin or "").strip() or None,
                               row.underlying_index_name)


async def set_reporting(session: AsyncSession, actor: Actor, server_id: int, symbol: str, *,
                        reportable: bool | None, underlying_isin: str | None,
                        underlying_index_name: str | None = None) -> InstrumentReporting:
    """reportable None: back to the asset class's default. underlying_isin / underlying_index_name None or empty:
    unknown. An index name only for an instrument on an index."""
    isin = "".join((underlying_isin or "").split()).upper() or None
    index_name = " ".join((underlying_index_name or "").split()) or None
    form = FieldErrors()
    if isin is not None and not isin_ok(isin):
        form.add(ValidationFailed("an ISIN (ISO 6166: 12 characters, a valid check digit)", field="underlyingIsin"))
    if index_name is not None and len(index_name) > INDEX_NAME_MAX:
        form.add(ValidationFailed(f"at most {INDEX_NAME_MAX} characters", field="underlyingIndexName"))
    form.raise_if_any()
    before = await get(session, server_id, symbol)
    if index_name is not None and before.asset_class != INDEX_CLASS:
        raise ValidationFailed(f"an index name is for an instrument on an index (this one is {before.asset_class})",
                               field="underlyingIndexName")
    await session.execute(text(
        "UPDATE trading_instruments SET mifir_reportable = :r, underlying_isin = :i, underlying_index_name = :n "
        "WHERE server_id = :s AND symbol = :y"),
        {"r": reportable, "i": isin, "n": index_name, "s": server_id, "y": symbol})
    after = await get(session, server_id, symbol)
    await audit.record(session, actor, action="regulatory.instrument_reporting_set", entity_type="trading_instrument",
                       entity_id=f"{server_id}:{symbol}", before=asdict(before), after=asdict(after),
                       category="compliance")
    return after
