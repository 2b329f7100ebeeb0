"""Instruments per server, from the platform's symbol list and the server's symbol mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.platforms.port import SymbolSpec
from domain.trading.models import Instrument

# First segment of the MT5 symbol path -> our asset class.
_ASSET_CLASSES = {
    "forex": "forex", "fx": "forex", "metals": "metals", "indices": "indices", "index": "indices",
    "energies": "energies", "energy": "energies", "commodities": "commodities", "crypto": "crypto",
    "stocks": "stocks", "shares": "stocks", "bonds": "bonds",
}  # fmt: skip


def asset_class_of(spec: SymbolSpec) -> str:
    head = spec.path.replace("/", "\\").split("\\", 1)[0].strip().lower()
    return _ASSET_CLASSES.get(head, "other")


async def sync_instruments(
    session: AsyncSession, server_id: int, specs: Sequence[SymbolSpec], symbol_map: Mapping[str, str]
) -> int:
    """Upsert every symbol the server lists; returns how many were written."""
    if not specs:
        return 0
    await session.execute(
        text(
            "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, path, contract_size, "
            "base_currency, quote_currency, digits, pip_size) VALUES (:server_id, :symbol, :canonical, "
            ":asset_class, :path, :contract_size, :base, :quote, :digits, :pip) "
            "ON CONFLICT (server_id, symbol) DO UPDATE SET canonical = excluded.canonical, "
            "asset_class = excluded.asset_class, path = excluded.path, contract_size = excluded.contract_size, "
            "base_currency = excluded.base_currency, quote_currency = excluded.quote_currency, "
            "digits = excluded.digits, pip_size = excluded.pip_size, updated_at = now()"
        ),
        [
            {
                "server_id": server_id, "symbol": s.symbol, "canonical": symbol_map.get(s.symbol, s.symbol),
                "asset_class": asset_class_of(s), "path": s.path[:200], "contract_size": s.contract_size,
                "base": s.base_currency, "quote": s.profit_currency, "digits": s.digits, "pip": s.pip_size,
            }
            for s in specs
        ],
    )  # fmt: skip
    return len(specs)


async def has_instruments(session: AsyncSession, server_id: int) -> bool:
    found = await session.scalar(
        select(Instrument.symbol).where(Instrument.server_id == server_id).limit(1)
    )
    return found is not None


async def list_instruments(session: AsyncSession, server_id: int) -> list[Instrument]:
    rows = await session.scalars(
        select(Instrument).where(Instrument.server_id == server_id).order_by(Instrument.symbol)
    )
    return list(rows)
