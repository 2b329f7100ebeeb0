from __future__ import annotations

from datetime import datetime

import strawberry

from domain.fx.quotes import Quote
from domain.fx.rates import Rate
from domain.shared.money import at_scale, decimal_text
from schema.errors import UserError
from schema.scalars import Money


@strawberry.input
class QuoteExchangeInput:
    from_currency: str
    to_currency: str
    amount: Money  # type: ignore[valid-type]


@strawberry.type(description="A rate offered for one exchange until expiresAt; accept it with the exchange mutation.")
class ExchangeQuote:
    id: strawberry.ID
    from_currency: str
    to_currency: str
    sell: Money  # type: ignore[valid-type]
    buy: Money  # type: ignore[valid-type]
    fee: Money  # type: ignore[valid-type]
    mid_rate: str
    rate: str = strawberry.field(description="Units of toCurrency you get per unit sold, the markup included.")
    markup: str
    rate_source: str
    rate_time: datetime
    expires_at: datetime

    @classmethod
    def of(cls, q: Quote) -> ExchangeQuote:
        t = q.terms
        return cls(id=strawberry.ID(str(q.id)), from_currency=t.src, to_currency=t.dst, sell=at_scale(t.amount, t.src),
                   buy=at_scale(t.bought, t.dst), fee=at_scale(t.fee, t.dst), mid_rate=decimal_text(t.mid),
                   rate=decimal_text(t.applied), markup=decimal_text(t.markup), rate_source=q.rate_source,
                   rate_time=q.rate_time, expires_at=q.expires_at)


@strawberry.type
class QuoteExchangePayload:
    quote: ExchangeQuote | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A reference rate as its source published it: units of quote per one base.")
class FxRate:
    base: str
    quote: str
    rate: str
    source: str
    time: datetime

    @classmethod
    def of(cls, r: Rate) -> FxRate:
        return cls(base=r.base, quote=r.quote, rate=decimal_text(r.rate), source=r.source, time=r.time)


@strawberry.type
class RefreshFxRatesPayload:
    source: str | None = None
    count: int = 0
    time: datetime | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
