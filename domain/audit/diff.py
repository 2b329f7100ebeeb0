"""Before/after of the changed fields only, with secrets redacted."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from domain.audit.chain import normalise

REDACTED = "[REDACTED]"
SECRET_MARKERS = ("password", "secret", "token", "totp", "code_hash", "recovery")


@functools.lru_cache(maxsize=4096)  # a few hundred distinct field names, looked up on every audited change
def is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def redact(value: Any) -> Any:
    """Replace the value of every secret-looking key, at any depth."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if is_secret(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def changed_fields(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Normalised, redacted before/after restricted to the keys whose value changed.

    A creation (no before) or a deletion (no after) keeps the whole other side. Values are
    compared before redaction, so a changed secret still shows as changed ("[REDACTED]" twice).
    """
    if before is None or after is None:
        return (
            None if before is None else normalise(redact(before)),
            None if after is None else normalise(redact(after)),
        )
    keys = [k for k in {*before, *after} if k not in before or k not in after or before[k] != after[k]]
    old = {k: before[k] for k in keys if k in before}
    new = {k: after[k] for k in keys if k in after}
    return normalise(redact(old)), normalise(redact(new))
