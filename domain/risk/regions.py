"""Country (ISO 3166 alpha-2) to reporting region; unknown or missing countries report as "Unknown"."""

from __future__ import annotations

_REGIONS: dict[str, tuple[str, ...]] = {
    "Europe": ("AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU",
               "IE", "IS", "IT", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK", "UA"),
    "Middle East & Africa": ("AE", "BH", "EG", "IL", "JO", "KE", "KW", "MA", "NG", "OM", "QA", "SA", "TR", "ZA"),
    "Asia-Pacific": ("AU", "CN", "HK", "ID", "IN", "JP", "KR", "MY", "NZ", "PH", "SG", "TH", "TW", "VN"),
    "Americas": ("AR", "BR", "CA", "CL", "CO", "MX", "PE", "US", "UY"),
}  # fmt: skip
_BY_COUNTRY = {c: region for region, countries in _REGIONS.items() for c in countries}


def region_of(country: str | None) -> str:
    return _BY_COUNTRY.get((country or "").upper(), "Unknown")


def country_regions() -> dict[str, str]:
    """Every known country and its region (for SQL-side grouping)."""
    return dict(_BY_COUNTRY)
