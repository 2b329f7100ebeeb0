"""The European Central Bank's daily reference rates (eurofxref-daily.xml): EUR base.

<gesmes:Envelope ...><Cube><Cube time="2024-01-05"><Cube currency="USD" rate="1.0921"/>...</Cube></Cube>
The ECB sets them around 16:00 CET on TARGET business days; that moment is the snapshot's time.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET  # DTDs and entities are refused before parsing
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import httpx

from domain.fx.errors import RateSourceUnavailable
from domain.fx.port import FxSettings, RateSnapshot, register
from domain.shared.db import utcnow

SOURCE = "ecb"
CUBE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}Cube"
SET_AT = time(16, 0)
FRANKFURT = ZoneInfo("Europe/Berlin")
MAX_DOCUMENT = 1 << 20


def parse_daily(document: bytes) -> RateSnapshot:
    """The snapshot in an ECB daily document; RateSourceUnavailable for anything else."""
    if len(document) > MAX_DOCUMENT or b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise RateSourceUnavailable("the ECB answered something that is not its rate document")
    try:
        root = ET.fromstring(document)  # noqa: S314
        day = next(c for c in root.iter(CUBE) if c.get("time"))
        when = datetime.combine(date.fromisoformat(str(day.get("time"))), SET_AT, FRANKFURT).astimezone(UTC)
        rates: dict[str, Decimal] = {}
        for cube in day.iter(CUBE):
            code, rate = cube.get("currency"), cube.get("rate")
            if code is None or rate is None:
                continue
            value = Decimal(rate)
            if not value.is_finite() or value <= 0 or len(code) != 3 or not code.isalpha():
                raise ValueError(f"bad rate {code}={rate}")
            rates[code.upper()] = value
    except (ET.ParseError, StopIteration, ValueError, InvalidOperation) as exc:
        raise RateSourceUnavailable(f"the ECB rate document could not be read: {exc}") from exc
    if not rates:
        raise RateSourceUnavailable("the ECB rate document lists no rates")
    return RateSnapshot(SOURCE, "EUR", when, rates)


class EcbRates:
    name = SOURCE

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url, timeout_s

    async def fetch(self) -> RateSnapshot:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                response = await http.get(self.url)
        except httpx.HTTPError as exc:
            raise RateSourceUnavailable(f"the ECB could not be reached: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise RateSourceUnavailable(f"the ECB answered HTTP {response.status_code}")
        snapshot = parse_daily(response.content)
        # the document may be read before the day's 16:00 CET: its rates are never dated ahead of now
        return dataclasses.replace(snapshot, time=min(snapshot.time, utcnow()))


register(SOURCE, lambda settings: EcbRates(settings.ecb_url, timeout_s=settings.timeout_s))

__all__ = ["EcbRates", "FxSettings", "parse_daily"]
