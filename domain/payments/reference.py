"""Human-readable payment references such as DEP-7K3Q-9XWM (no 0/O/1/I to avoid misreading)."""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PREFIXES = {"deposit": "DEP", "withdrawal": "WDR"}
PATTERN = re.compile(r"\b(DEP|WDR)-([2-9A-HJ-NP-Z]{4})-([2-9A-HJ-NP-Z]{4})\b")


def new_reference(direction: str) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{PREFIXES[direction]}-{body[:4]}-{body[4:]}"


def find_reference(text: str) -> str | None:
    """The first reference in free text (bank remittance info), tolerant of case and spacing."""
    match = PATTERN.search(re.sub(r"\s+", " ", text.upper()))
    return "-".join(match.groups()) if match else None
