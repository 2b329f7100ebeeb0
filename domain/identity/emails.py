"""Email addresses: syntax-checked and normalised for uniqueness (case-insensitive)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from domain.identity.errors import InvalidEmail

MAX_LENGTH = 254  # RFC 5321's path limit (with the surrounding spaces strip() would remove: a few more)


def normalise(email: str, *, field: str = "email") -> tuple[str, str]:
    """(address as given but cleaned, normalised key). Deliverability is not checked here."""
    if len(email) > MAX_LENGTH:  # before the parser: its work grows with the input
        raise InvalidEmail(f"an email address has at most {MAX_LENGTH} characters", field=field)
    try:
        info = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"not a valid email address: {exc}", field=field) from exc
    return info.normalized, info.normalized.lower()
