"""Stored rates: refreshed from the configured source (a cron job, and staff on demand), read for quotes.

Every refresh appends the snapshot's rows (source, base, quote, rate, the source's time, when we
fetched it); readers take the newest rate per pair of the configured source, derive inverses and
crosses through the base, and refuse a rate older than FOREXCRM_FX_MAX_AGE_S with FX_RATE_STALE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.fx.errors import RateStale
from domain.fx.port import FxSettings, RateSnapshot, provider_for
from domain.ledger.errors import RateUnavailable
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, driver, in_transaction, utcnow


@dataclass(frozen=True)
class Rate:
    base: str
    quote: str
    rate: Decimal  # units of quote per one base (mid)
    source: str
    time: datetime  # the older of the source times it was derived from


async def store_snapshot(session: AsyncSession, actor: Actor, snapshot: RateSnapshot) -> int:
    """Append the snapshot (audited); returns how many rates were stored."""
    conn = await driver(session)
    codes = sorted(snapshot.rates)
    await conn.execute(
        "INSERT INTO fx_rates (source, base, quote, rate, rate_time) "
        "SELECT $1, $2, q, r, $5 FROM unnest($3::text[], $4::numeric[]) AS t(q, r)",
        snapshot.source, snapshot.base, codes, [snapshot.rates[c] for c in codes], snapshot.time)
    await audit.record(session, actor, action="fx.rates_refreshed", entity_type="fx_rates", entity_id=snapshot.source,
                       after={"source": snapshot.source, "base": snapshot.base, "time": snapshot.time.isoformat(),
                              "count": len(codes)})
    return len(codes)


_LATEST = """
SELECT DISTINCT ON (base, quote) base, quote, rate, rate_time FROM fx_rates
WHERE source = $1 AND (quote = ANY($2::text[]) OR base = ANY($2::text[]))
ORDER BY base, quote, rate_time DESC, id DESC
"""


async def mid_rate(session: AsyncSession, base: str, quote: str, *, settings: FxSettings | None = None,
                   now: datetime | None = None) -> Rate:
    """Units of `quote` per one `base` at the newest stored rates of the configured source."""
    settings = settings or FxSettings()
    base, quote = base.upper(), quote.upper()
    if base == quote:
        return Rate(base, quote, Decimal(1), settings.source, now or utcnow())
    rows = await (await driver(session)).fetch(_LATEST, settings.source, [base, quote])
    # per pivot currency: units of each currency per one pivot, and the source's time of that rate
    by_pivot: dict[str, dict[str, tuple[Decimal, datetime | None]]] = {}
    for r in rows:
        table = by_pivot.setdefault(r["base"], {r["base"]: (Decimal(1), None)})
        table[r["quote"]] = (Decimal(r["rate"]), r["rate_time"])
    for _pivot, table in sorted(by_pivot.items()):
        if base in table and quote in table:
            (b, bt), (q, qt) = table[base], table[quote]
            found = Rate(base, quote, q / b, settings.source, min(t for t in (bt, qt) if t is not None))
            break
    else:
        raise RateUnavailable(f"no {settings.source} rate for {base}/{quote}", field="toCurrency")
    age = (now or utcnow()) - found.time
    if age > timedelta(seconds=settings.max_age_s):
        raise RateStale(f"the {settings.source} rate for {base}/{quote} is from {found.time.isoformat()}: "
                        "rates are being refreshed, try again later", field="toCurrency")
    return found


async def latest_rates(session: AsyncSession, *, settings: FxSettings | None = None) -> list[Rate]:
    """The newest stored rate of every pair of the configured source (as published)."""
    settings = settings or FxSettings()
    rows = await (await driver(session)).fetch(
        "SELECT DISTINCT ON (base, quote) base, quote, rate, rate_time FROM fx_rates WHERE source = $1 "
        "ORDER BY base, quote, rate_time DESC, id DESC", settings.source)
    return [Rate(r["base"], r["quote"], Decimal(r["rate"]), settings.source, r["rate_time"]) for r in rows]


async def refresh(factory: SessionFactory, actor: Actor, *, settings: FxSettings | None = None) -> RateSnapshot:
    """Fetch the configured source's rates (no transaction open meanwhile) and store them."""
    provider = provider_for(settings)
    snapshot = await provider.fetch()
    await in_transaction(factory, lambda s: store_snapshot(s, actor, snapshot))
    return snapshot
