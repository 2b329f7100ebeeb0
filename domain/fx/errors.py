"""FX errors with stable codes."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError, ExternalServiceUnavailable, NotFound, ValidationFailed


class RateStale(DomainError):
    """The newest stored rate is older than the configured age: no quote is given on it."""

    code = "FX_RATE_STALE"


class UnknownRateSource(ValidationFailed):
    code = "FX_UNKNOWN_SOURCE"


class RateSourceUnavailable(ExternalServiceUnavailable):
    """The rate source could not be reached or answered something that is not a rate document."""

    code = "FX_SOURCE_UNAVAILABLE"


class QuoteNotFound(NotFound):
    """No such quote, or another client's."""

    code = "FX_QUOTE_NOT_FOUND"


class QuoteExpired(Conflict):
    code = "FX_QUOTE_EXPIRED"


class QuoteUsed(Conflict):
    code = "FX_QUOTE_USED"
