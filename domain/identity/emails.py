"""Email addresses: syntax-checked and normalised for uniqueness (case-insensitive)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from domain.identity.errors import InvalidEmail


def normalise(email: str, *, field: str = "email") -> tuple[str, str]:
    """(address as given but cleaned, normalised key). Deliverability is not checked here."""
    try:
        info = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"not a valid email address: {exc}", field=field) from exc
    return info.normalized, info.normalized.lower()
