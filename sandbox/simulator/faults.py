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
    # Deal pages as a pull must survive them: rows out of order, and rows the client already read (a deal
    # inserted ahead of the page between two reads shifts offset-paged rows by one).
    shuffle_deal_pages: int = 0  # the next N deal pages answer their rows shuffled
    repeat_deal_rows: int = 0  # the next N deal pages also answer the row just before the page
    drop_streams: bool = False  # cut every pushed deal stream now (push platforms; the pull must catch up)

    def take_repeat(self) -> bool:
        """Whether this deal page repeats a row already served (spends one repeat)."""
        if self.repeat_deal_rows > 0:
            self.repeat_deal_rows -= 1
            return True
        return False

    def shuffled(self, rows: list[str]) -> list[str]:
        """The page's rows, reversed (out of order, deterministically) while shuffles remain."""
        if self.shuffle_deal_pages > 0 and len(rows) > 1:
            self.shuffle_deal_pages -= 1
            return rows[::-1]
        return rows

    def update(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if key not in self.__slots__:  # type: ignore[attr-defined]
                raise ValueError(f"unknown fault {key}")
            setattr(self, key, type(getattr(self, key))(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
