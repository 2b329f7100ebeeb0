"""Fault-injection knobs, set through POST /sim/faults (tests only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class Faults:
    unavailable: int = 0  # answer HTTP 503 to the next N /api requests
    fail_auth: int = 0  # refuse the next N auth/answer even with the right password
    drop_next_balance: bool = False  # apply the next trade/balance, then never answer it
    truncate_next_deal_page: bool = False  # cut the next deal/get_page answer in half
    drop_sessions: bool = False  # forget every authenticated session now (as on a server restart)

    def update(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if key not in self.__slots__:  # type: ignore[attr-defined]
                raise ValueError(f"unknown fault {key}")
            setattr(self, key, type(getattr(self, key))(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
