"""Exchange quotes: a client asks for a quote (pair, rate with the markup, both amounts, an expiry)
and accepts it with an idempotency key; accepting posts the exchange at exactly the quoted terms.

Accepting claims the quote with one conditional UPDATE (the client's own, unused, unexpired): an
expired, foreign or used quote is refused with a typed error and, the transaction rolling back,
leaves no trace. A repeat with the same key replays the first result. The whole accept path runs
on the raw connection (`driver(session)`), so it may be group-committed.
"""

from __future__ import annotations

import decimal
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.fx.errors import QuoteExpired, QuoteNotFound, QuoteUsed
from domain.fx.port import FxSettings
from domain.fx.rates import mid_rate
from domain.ledger import idempotency
from domain.ledger.errors import IdempotencyKeyReused
from domain.ledger.idempotency import KeyTaken, Settlement
from domain.ledger.wallets import (
    ExchangeResult,
    ExchangeTerms,
    exchange_pair,
    exchange_result,
    exchange_terms,
    post_exchange,
)
from domain.shared.actor import Actor
from domain.shared.db import driver, utcnow

OPERATION = "exchange_quote"
RATE_DIGITS = decimal.Context(prec=12)


@dataclass(frozen=True)
class Quote:
    id: uuid.UUID
    user_id: int
    terms: ExchangeTerms
    rate_source: str
    rate_time: datetime
    created_at: datetime
    expires_at: datetime


def quote_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise QuoteNotFound("no such quote", field="quoteId") from None


async def create_quote(
    session: AsyncSession, actor: Actor, *, user_id: int, from_currency: str, to_currency: str, amount: Decimal,
    settings: FxSettings | None = None, now: datetime | None = None,
) -> Quote:
    """A quote to sell `amount` of one currency for another at the newest stored rate less the markup."""
    settings = settings or FxSettings()
    src, dst, amount = exchange_pair(from_currency, to_currency, amount)
    now = now or utcnow()
    rate = await mid_rate(session, src, dst, settings=settings, now=now)
    # quoted (and stored, and posted) at 12 significant digits: what the client sees is what is used
    terms = exchange_terms(src, dst, amount, RATE_DIGITS.plus(rate.rate), settings.markup)
    quote = Quote(uuid.uuid4(), user_id, terms, rate.source, rate.time, now,
                  now + timedelta(seconds=settings.quote_ttl_s))
    await (await driver(session)).execute(
        "INSERT INTO fx_quotes (id, user_id, from_currency, to_currency, sell_amount, buy_amount, gross_amount, fee, "
        "mid_rate, applied_rate, markup, rate_source, rate_time, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        quote.id, user_id, src, dst, amount, terms.bought, terms.gross, terms.fee, terms.mid, terms.applied,
        terms.markup, rate.source, rate.time, now, quote.expires_at)
    await audit.record(session, actor, action="fx.quote", entity_type="fx_quote", entity_id=str(quote.id),
                       after={"sell": f"{amount} {src}", "buy": f"{terms.bought} {dst}", "mid_rate": str(terms.mid),
                              "applied_rate": str(terms.applied), "rate_source": rate.source,
                              "rate_time": rate.time.isoformat(), "expires_at": quote.expires_at.isoformat()})
    return quote


_CLAIM = """
UPDATE fx_quotes SET used_at = $3, used_scope = $4, used_key = $5
WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3
RETURNING from_currency, to_currency, sell_amount, buy_amount, gross_amount, mid_rate, applied_rate, markup,
          rate_source, rate_time
"""


async def accept_quote(
    session: AsyncSession, actor: Actor, *, user_id: int, quote: uuid.UUID, idempotency_key: str,
    now: datetime | None = None,
) -> ExchangeResult:
    """Exchange at the quote's terms (once per quote and per key)."""
    key = idempotency.check_key(idempotency_key)
    fingerprint = idempotency.fingerprint(OPERATION, {"quote_id": str(quote)})
    conn = await driver(session)
    row = await conn.fetchrow(_CLAIM, quote, user_id, now or utcnow(), actor.label, key)
    if row is None:
        return await _refused_or_replayed(session, actor, user_id, quote, key, fingerprint)
    src, dst = row["from_currency"], row["to_currency"]
    terms = ExchangeTerms(src, dst, Decimal(row["sell_amount"]), Decimal(row["gross_amount"]),
                          Decimal(row["buy_amount"]), Decimal(row["mid_rate"]), Decimal(row["applied_rate"]),
                          Decimal(row["markup"]))
    details = {"quote_id": str(quote), "rate_source": row["rate_source"], "rate_time": row["rate_time"].isoformat()}
    try:
        result = await post_exchange(session, actor, user_id=user_id, terms=terms, idempotency_key=key,
                                     settlement=Settlement(actor.label, key, fingerprint=fingerprint),
                                     details=details)
    except KeyTaken:
        # the key was used for another operation (this quote was unused): refused, the claim rolls back
        await idempotency.settled(session, scope=actor.label, key=key, fingerprint=fingerprint)
        raise IdempotencyKeyReused("this idempotency key was used for a different request",
                                   field="idempotencyKey") from None
    return exchange_result(result, False, src, dst, terms.amount)


async def _refused_or_replayed(session: AsyncSession, actor: Actor, user_id: int, quote: uuid.UUID, key: str,
                               fingerprint: str) -> ExchangeResult:
    q = await (await driver(session)).fetchrow(
        "SELECT user_id, from_currency, to_currency, sell_amount, used_at, used_scope, used_key FROM fx_quotes "
        "WHERE id = $1", quote)
    if q is None or q["user_id"] != user_id:
        raise QuoteNotFound("no such quote", field="quoteId")
    if q["used_at"] is None:
        raise QuoteExpired("this quote has expired: ask for a new one", field="quoteId")
    if (q["used_scope"], q["used_key"]) != (actor.label, key):
        raise QuoteUsed("this quote was already accepted", field="quoteId")
    claim = await idempotency.settled(session, scope=actor.label, key=key, fingerprint=fingerprint)
    result: dict[str, Any] = dict(claim.result or {})
    return exchange_result(result, True, q["from_currency"], q["to_currency"], Decimal(q["sell_amount"]))
