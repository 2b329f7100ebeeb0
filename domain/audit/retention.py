"""How long each audit record must be kept.

Per category, a number of years from the event (7 by default, the usual MiFID II / FCA horizon);
the caller may pass a later date (end of the client relationship + 5 years) and the later wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

DEFAULT_RETENTION_YEARS = 7
RELATIONSHIP_RETENTION_YEARS = 5

# Regulator-facing categories, served by the regulatorRecords query.
REGULATOR_CATEGORIES: frozenset[str] = frozenset({
    "balance_adjustment", "leverage_change", "ib_relationship", "commission_plan", "permission_change",
})

RETENTION_YEARS: dict[str, int] = {
    "general": DEFAULT_RETENTION_YEARS,
    "auth": DEFAULT_RETENTION_YEARS,
    **{category: DEFAULT_RETENTION_YEARS for category in REGULATOR_CATEGORIES},
}


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a non-leap year
        return day.replace(year=day.year + years, day=28)


def relationship_retention(relationship_end: date) -> date:
    """The date to pass as retain_until for records tied to a client relationship that ended."""
    return add_years(relationship_end, RELATIONSHIP_RETENTION_YEARS)


def retain_until_for(
    category: str, occurred_on: date, requested: date | None = None,
    overrides: Mapping[str, int] | None = None,
) -> date:
    years = (overrides or {}).get(category, RETENTION_YEARS.get(category, DEFAULT_RETENTION_YEARS))
    floor = add_years(occurred_on, years)
    return max(floor, requested) if requested is not None else floor
