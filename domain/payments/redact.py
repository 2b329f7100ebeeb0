"""Redaction of sensitive fields before a gateway payload is stored."""

from __future__ import annotations

import re
from typing import Any

SENSITIVE_KEYS = frozenset({"card_number", "number", "pan", "cvv", "cvc", "cvv2", "token", "card_token",
                            "api_key", "authorization", "secret", "password", "iban_full", "access_token"})
# 13-19 digit runs (optionally spaced or dashed) look like card numbers wherever they appear.
_PAN = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
MASK = "[REDACTED]"


def _mask_text(value: str) -> str:
    return _PAN.sub(lambda m: MASK + m.group(0)[-4:], value)


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if str(k).lower() in SENSITIVE_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _mask_text(value)
    return value
