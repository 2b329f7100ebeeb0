"""PII masking for partner views: an IB sees its clients' contact data only if the brokerage allows it."""

from __future__ import annotations


def mask_email(email: str) -> str:
    """"john@example.com" -> "j***@e***.com": enough to recognise, not to contact."""
    local, _, domain = email.partition("@")
    if not domain:
        return mask_name(email)
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    return f"{local[:1]}***@{host[:1]}***{dot}{tld}"


def mask_name(name: str) -> str:
    return " ".join(f"{part[:1]}***" for part in name.split()) if name.strip() else ""


def mask_phone(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return f"***{''.join(digits[-2:])}" if digits else ""
