"""Aggregates over a client's payments and deals as sliding windows, for the test run.

The inline decision reads each aggregate with one statement over the client's history before the
event (engine.statement). Replaying a million payments that way is a million index scans and heap
visits in no useful order, so the test run streams each client's history once, in time order, and
keeps every aggregate as a window that rows enter and leave: the work follows the client's own
window, not the size of the table. The values are the statement's, filter for filter:

- payments: h.created_at in (t - window, t], h.id <> the event's id; the filters of
  engine._payment_agg, with amounts compared within the event's currency (`money`) and `same_method`
  the event's method: both make the window keyed by the event's value (NULL matches nothing);
- deals: d.time in (t - window, t], no filters.

An event that shares its instant with a later payment of the same client (the statement counts
it), and a filter on the event's own method maximum, are computed by scanning the client's rows in
the window instead (`scan_payment`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from domain.compliance.aml.rules import Agg

# Sums of numeric(38,18) amounts stay exact (the default context rounds at 28 digits); PostgreSQL's
# sum is exact too.
EXACT = Context(prec=120)

Row = Any  # an asyncpg Record or a dict: payments' or deals' columns by name
Pred = Callable[[Row], bool]

# What the history queries select (engine.PAYMENT_HISTORY, engine.DEAL_HISTORY name the same columns).
PAYMENT_COLUMNS = ("user_id", "id", "created_at", "direction", "status", "method_kind", "method_code", "currency",
                   "amount", "country", "payer_name", "instrument", "card_bin_country")
DEAL_COLUMNS = ("user_id", "time", "volume", "notional_usd", "symbol", "login")


def _money(a: Agg) -> bool:
    return a.of == "amount" or any(k in ("amount_gte", "amount_lt", "amount_gte_method_max_share") for k, _ in a.where)


def _equals(column: str, value: Any) -> Pred:
    return lambda h: bool(h[column] == value)


def _member(column: str, values: frozenset[str]) -> Pred:
    return lambda h: h[column] in values


def _at_least(bound: Decimal) -> Pred:
    return lambda h: h["amount"] is not None and bool(h["amount"] >= bound)


def _below(bound: Decimal) -> Pred:
    return lambda h: h["amount"] is not None and bool(h["amount"] < bound)


def static_filter(a: Agg, lists: dict[str, frozenset[str]]) -> Pred:
    """The part of a payments aggregate's filter that reads the history row alone (as in SQL, a NULL
    column matches nothing)."""
    checks: list[Pred] = []
    for key, value in a.where:
        if key == "direction":
            checks.append(_equals("direction", value))
        elif key in ("status", "method_kind"):
            checks.append(_member(key, frozenset(value)))
        elif key == "country_in_list":
            checks.append(_member("country", lists.get(value, frozenset())))
        elif key == "amount_gte":
            checks.append(_at_least(Decimal(value)))
        elif key == "amount_lt":
            checks.append(_below(Decimal(value)))
    if not checks:
        return lambda h: True
    if len(checks) == 1:
        return checks[0]
    return lambda h: all(c(h) for c in checks)


def event_key(a: Agg) -> Callable[[Row], tuple[Any, ...] | None]:
    """The part of the filter that compares the history row with the event: its currency (money) and
    its method (same_method). None: the event has a NULL there, so nothing matches."""
    cols = (["currency"] if _money(a) else []) + (["method_code"] if dict(a.where).get("same_method") else [])

    def key(row: Row) -> tuple[Any, ...] | None:
        values = tuple(row[c] for c in cols)
        return None if any(v is None for v in values) else values

    return key


def needs_scan(a: Agg) -> bool:
    """The filter compares with the event's method maximum: not a window keyed by a value."""
    return any(k == "amount_gte_method_max_share" for k, _ in a.where)


class _State:
    """One aggregate over the rows of one key now in the window."""

    __slots__ = ("distinct", "fn", "n", "peaks", "rows", "total")

    def __init__(self, fn: str) -> None:
        self.fn = fn
        self.rows = 0  # count(*)
        self.n = 0  # non-null values
        self.total = Decimal(0)
        self.distinct: Counter[Any] = Counter()
        self.peaks: deque[tuple[int, Any]] = deque()  # (seq, value), values decreasing: the max is first

    def add(self, seq: int, value: Any) -> None:
        self.rows += 1
        if value is None:
            return
        self.n += 1
        fn = self.fn
        if fn in ("sum", "avg"):
            self.total = EXACT.add(self.total, value)
        elif fn == "count_distinct":
            self.distinct[value] += 1
        elif fn == "max":
            peaks = self.peaks
            while peaks and peaks[-1][1] <= value:
                peaks.pop()
            peaks.append((seq, value))

    def remove(self, seq: int, value: Any) -> None:
        """Rows leave in the order they came (the oldest first)."""
        self.rows -= 1
        if value is None:
            return
        self.n -= 1
        fn = self.fn
        if fn in ("sum", "avg"):
            self.total = EXACT.subtract(self.total, value)
        elif fn == "count_distinct":
            left = self.distinct[value] - 1
            if left:
                self.distinct[value] = left
            else:
                del self.distinct[value]
        elif fn == "max" and self.peaks and self.peaks[0][0] == seq:
            self.peaks.popleft()

    def value(self) -> Any:
        return result(self.fn, self.rows, self.n, self.total, len(self.distinct),
                      self.peaks[0][1] if self.peaks else None)


def result(fn: str, rows: int, n: int, total: Decimal, distinct: int, peak: Any) -> Any:
    """The SQL aggregate's value: count(*), count(DISTINCT), coalesce(sum, 0), avg and max (NULL over no values)."""
    if fn == "count":
        return rows
    if fn == "count_distinct":
        return distinct
    if fn == "sum":
        return total if n else Decimal(0)
    if fn == "avg":
        return EXACT.divide(total, n) if n else None
    return peak if n else None


class Window:
    """One aggregate's window over one client's rows: rows enter in time order and leave once they are
    `span` old (a row at exactly t - span is out: the statement's `> t - interval`)."""

    __slots__ = ("column", "entries", "fn", "keep", "key", "seq", "span", "states", "time_column")

    def __init__(self, a: Agg, lists: dict[str, frozenset[str]], time_column: str) -> None:
        self.fn = a.fn
        self.span = timedelta(seconds=a.window_s)
        self.column = a.of
        self.time_column = time_column
        self.keep: Pred = static_filter(a, lists) if a.source == "payments" else (lambda h: True)
        self.key = event_key(a) if a.source == "payments" else (lambda h: ())
        self.entries: deque[tuple[datetime, tuple[Any, ...] | None, int, Any]] = deque()
        self.states: dict[tuple[Any, ...] | None, _State] = {}
        self.seq = 0

    def reset(self) -> None:
        self.entries.clear()
        self.states.clear()

    def add(self, row: Row) -> None:
        if not self.keep(row):
            return
        key = self.key(row)
        if key is None:  # a NULL currency or method: no event ever matches it
            return
        value = row[self.column] if self.column is not None else None
        self.seq += 1
        self.entries.append((row[self.time_column], key, self.seq, value))
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = _State(self.fn)
        state.add(self.seq, value)

    def value_at(self, at: datetime, event: Row) -> Any:
        floor = at - self.span
        entries = self.entries
        while entries and entries[0][0] <= floor:
            _, key, seq, value = entries.popleft()
            self.states[key].remove(seq, value)
        key = self.key(event)
        state = self.states.get(key) if key is not None else None
        return state.value() if state is not None else result(self.fn, 0, 0, Decimal(0), 0, None)


def scan_payment(a: Agg, lists: dict[str, frozenset[str]], history: Sequence[Row], times: Sequence[datetime],
                 event: Row, method_max: Any) -> Any:
    """The aggregate by reading the client's rows in (t - window, t] one by one (every row of the
    client in time order in `history`, their times in `times`), exactly as the statement filters them."""
    at = event["created_at"]
    lo = bisect_right(times, at - timedelta(seconds=a.window_s))
    hi = bisect_right(times, at)
    keep, key = static_filter(a, lists), event_key(a)
    wanted = key(event)
    share = dict(a.where).get("amount_gte_method_max_share")
    bound = EXACT.multiply(Decimal(share), method_max) if share is not None and method_max is not None else None
    rows = n = distinct = 0
    total = Decimal(0)
    peak: Any = None
    seen: set[Any] = set()
    for h in history[lo:hi]:
        if h["id"] == event["id"] or wanted is None or not keep(h) or key(h) != wanted:
            continue
        if share is not None and (bound is None or h["amount"] is None or h["amount"] < bound):
            continue
        rows += 1
        value = h[a.of] if a.of is not None else None
        if value is None:
            continue
        n += 1
        if a.fn in ("sum", "avg"):
            total = EXACT.add(total, value)
        elif a.fn == "count_distinct":
            seen.add(value)
        elif a.fn == "max" and (peak is None or value > peak):
            peak = value
    distinct = len(seen)
    return result(a.fn, rows, n, total, distinct, peak)


@dataclass
class ClientWindows:
    """Every streamed aggregate of a run over one client at a time: `payments[i]` / `deals[i]` is the
    window of aggregate `pay_index[i]` / `deal_index[i]` of the run's aggregate list."""

    aggs: list[Agg]
    lists: dict[str, frozenset[str]]

    def __post_init__(self) -> None:
        self.pay_index = [i for i, a in enumerate(self.aggs) if a.source == "payments" and not needs_scan(a)]
        self.scan_index = [i for i, a in enumerate(self.aggs) if a.source == "payments" and needs_scan(a)]
        self.deal_index = [i for i, a in enumerate(self.aggs) if a.source == "deals"]
        self.payments = [Window(self.aggs[i], self.lists, "created_at") for i in self.pay_index]
        self.deals = [Window(self.aggs[i], self.lists, "time") for i in self.deal_index]

    def values(self, events: Sequence[Row], history: Sequence[Row], deals: Sequence[Row],
               method_max: Callable[[Row], Any]) -> list[dict[int, Any]]:
        """For each event of one client (in (created_at, id) order), its streamed aggregates by index.
        `history` is every payment of the client that a window can reach, in (created_at, id) order,
        the events among them; `deals` the client's deals in time order."""
        for w in self.payments:
            w.reset()
        for w in self.deals:
            w.reset()
        times = [h["created_at"] for h in history]
        out: list[dict[int, Any]] = []
        hi = di = 0
        for event in events:
            at, pid = event["created_at"], event["id"]
            while hi < len(history) and (history[hi]["created_at"], history[hi]["id"]) < (at, pid):
                row = history[hi]
                for w in self.payments:
                    w.add(row)
                hi += 1
            while di < len(deals) and deals[di]["time"] <= at:
                for w in self.deals:
                    w.add(deals[di])
                di += 1
            values: dict[int, Any] = {}
            # Another payment of the client at this very instant, after the event: the statement
            # counts it, the windows have not seen it yet.
            peers = any(h["id"] != pid for h in history[hi:bisect_right(times, at, hi)])
            for i, w in zip(self.pay_index, self.payments, strict=True):
                if peers:
                    w.value_at(at, event)  # keep its expiry in step
                    values[i] = scan_payment(self.aggs[i], self.lists, history, times, event, None)
                else:
                    values[i] = w.value_at(at, event)
            for i in self.scan_index:
                values[i] = scan_payment(self.aggs[i], self.lists, history, times, event, method_max(event))
            for i, w in zip(self.deal_index, self.deals, strict=True):
                values[i] = w.value_at(at, event)
            out.append(values)
        return out
