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
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from domain.compliance.aml.engine import payment_filter, payment_money
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


def mask_bit(index: int) -> tuple[str, int]:
    """Filter `index`'s column and bit in the history query (62 filters a bigint column)."""
    return f"f{index // 62}", 1 << (index % 62)


def event_key(a: Agg) -> Callable[[Row], tuple[Any, ...] | None]:
    """The part of the filter that compares the history row with the event: its currency (money) and
    its method (same_method). None: the event has a NULL there, so nothing matches."""
    cols = (["currency"] if payment_money(a) else []) + (["method_code"] if dict(a.where).get("same_method") else [])

    def key(row: Row) -> tuple[Any, ...] | None:
        values = tuple(row[c] for c in cols)
        return None if any(v is None for v in values) else values

    return key


def needs_scan(a: Agg) -> bool:
    """The filter compares with the event's method maximum: not a window keyed by a value."""
    return any(k == "amount_gte_method_max_share" for k, _ in a.where)


class _State:
    """One aggregate over the rows of one key now in the window (count(*) here; the others below)."""

    __slots__ = ("n", "rows")

    def __init__(self) -> None:
        self.rows = 0  # count(*)
        self.n = 0  # non-null values

    def add(self, seq: int, value: Any) -> None:
        self.rows += 1

    def remove(self, seq: int, value: Any) -> None:
        """Rows leave in the order they came (the oldest first)."""
        self.rows -= 1

    def value(self) -> Any:
        return self.rows


class _Sum(_State):
    __slots__ = ("avg", "total")

    def __init__(self, avg: bool) -> None:
        super().__init__()
        self.total = Decimal(0)
        self.avg = avg

    def add(self, seq: int, value: Any) -> None:
        if value is not None:
            self.n += 1
            self.total = EXACT.add(self.total, value)

    def remove(self, seq: int, value: Any) -> None:
        if value is not None:
            self.n -= 1
            self.total = EXACT.subtract(self.total, value)

    def value(self) -> Any:  # result()'s sum and avg, inlined (read once per event and window)
        if self.avg:
            return EXACT.divide(self.total, self.n) if self.n else None
        return self.total if self.n else Decimal(0)


class _Distinct(_State):
    __slots__ = ("distinct",)

    def __init__(self) -> None:
        super().__init__()
        self.distinct: Counter[Any] = Counter()

    def add(self, seq: int, value: Any) -> None:
        if value is not None:
            self.distinct[value] += 1

    def remove(self, seq: int, value: Any) -> None:
        if value is not None:
            left = self.distinct[value] - 1
            if left:
                self.distinct[value] = left
            else:
                del self.distinct[value]

    def value(self) -> Any:
        return len(self.distinct)


class _Max(_State):
    __slots__ = ("peaks",)

    def __init__(self) -> None:
        super().__init__()
        self.peaks: deque[tuple[int, Any]] = deque()  # (seq, value), values decreasing: the max is first

    def add(self, seq: int, value: Any) -> None:
        if value is not None:
            peaks = self.peaks
            while peaks and peaks[-1][1] <= value:
                peaks.pop()
            peaks.append((seq, value))

    def remove(self, seq: int, value: Any) -> None:
        if self.peaks and self.peaks[0][0] == seq:
            self.peaks.popleft()

    def value(self) -> Any:
        return self.peaks[0][1] if self.peaks else None


def _state(fn: str) -> Callable[[], _State]:
    if fn in ("sum", "avg"):
        return lambda: _Sum(fn == "avg")
    if fn == "count_distinct":
        return _Distinct
    if fn == "max":
        return _Max
    return _State


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
    """One aggregate's window over one client's rows: rows enter in time order (already filtered, with
    the key they match events by) and leave once they are `span` old (a row at exactly t - span is
    out: the statement's `> t - interval`). ClientWindows.values pushes and reads them inline."""

    __slots__ = ("column", "empty", "entries", "filter", "key", "make", "since", "span", "states")

    def __init__(self, a: Agg, filter_index: int, key_index: int) -> None:
        self.span = timedelta(seconds=a.window_s)
        self.column = a.of
        self.filter = filter_index  # ClientWindows.filters[i] (payments; -1: none)
        self.key = key_index  # ClientWindows.KEYS[i]
        self.make = _state(a.fn)
        self.empty = result(a.fn, 0, 0, Decimal(0), 0, None)
        self.entries: deque[tuple[datetime, tuple[Any, ...], int, Any]] = deque()
        self.states: dict[tuple[Any, ...], _State] = {}
        self.since = datetime.min.replace(tzinfo=UTC)  # rows up to here leave before the client's first event

    def reset(self, first_event: datetime) -> None:
        self.entries.clear()
        self.states.clear()
        self.since = first_event - self.span


def scan_payment(a: Agg, keep: Pred, history: Sequence[Row], times: Sequence[datetime], event: Row,
                 method_max: Any) -> Any:
    """The aggregate by reading the client's rows in (t - window, t] one by one (every row of the
    client in time order in `history`, their times in `times`), exactly as the statement filters them."""
    at = event["created_at"]
    lo = bisect_right(times, at - timedelta(seconds=a.window_s))
    hi = bisect_right(times, at)
    key = event_key(a)
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


def _key_of(columns: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...] | None]:
    if len(columns) == 1:  # the usual key (currency or method), without a generator per row
        column = columns[0]

        def key1(row: Row) -> tuple[Any, ...] | None:
            value = row[column]
            return None if value is None else (value,)

        return key1

    def key(row: Row) -> tuple[Any, ...] | None:
        values = tuple(row[c] for c in columns)
        return None if None in values else values

    return key


@dataclass
class ClientWindows:
    """Every streamed aggregate of a run over one client at a time: `payments[i]` / `deals[i]` is the
    window of aggregate `pay_index[i]` / `deal_index[i]` of the run's aggregate list. Aggregates that
    filter alike share the filter's evaluation, once per row."""

    aggs: list[Agg]
    lists: dict[str, frozenset[str]]
    KEYS = ((), ("currency",), ("method_code",), ("currency", "method_code"))

    def __post_init__(self) -> None:
        self.pay_index = [i for i, a in enumerate(self.aggs) if a.source == "payments" and not needs_scan(a)]
        self.scan_index = [i for i, a in enumerate(self.aggs) if a.source == "payments" and needs_scan(a)]
        self.deal_index = [i for i, a in enumerate(self.aggs) if a.source == "deals"]
        # Aggregates that filter alike share one bit of the history query's filter columns.
        signatures: dict[tuple[str, ...], int] = {}
        self.filter_of: dict[int, int] = {}
        for i in self.pay_index + self.scan_index:
            conds = tuple(payment_filter(self.aggs[i], self.lists))
            self.filter_of[i] = signatures.setdefault(conds, len(signatures))
        self.filter_sql = self._filter_columns(list(signatures))
        self.payments: list[Window] = []
        for i in self.pay_index:
            a = self.aggs[i]
            cols = (("currency",) if payment_money(a) else ()) + \
                (("method_code",) if dict(a.where).get("same_method") else ())
            self.payments.append(Window(a, self.filter_of[i], self.KEYS.index(cols)))
        used = sorted({w.key for w in self.payments} | {0})
        self.keys: list[Callable[[Row], tuple[Any, ...] | None] | None] = [
            _key_of(cols) if n in used and cols else None for n, cols in enumerate(self.KEYS)]
        self.deals = [Window(self.aggs[i], -1, 0) for i in self.deal_index]

    @staticmethod
    def _filter_columns(filters: list[tuple[str, ...]]) -> str:
        """`, <mask> AS f0, ...`: bit i of the filter columns set when the row passes filter i (NULL fails)."""
        columns: dict[str, list[str]] = {}
        for index, conds in enumerate(filters):
            column, bit = mask_bit(index)
            test = f"coalesce({' AND '.join(conds)}, false)" if conds else "true"
            columns.setdefault(column, []).append(f"CASE WHEN {test} THEN {bit} ELSE 0 END")
        return "".join(f", ({' + '.join(parts)})::bigint AS {column}" for column, parts in columns.items())

    def passes(self, index: int) -> Pred:
        column, bit = mask_bit(self.filter_of[index])
        return lambda h: bool(h[column] & bit)

    def values(self, events: Sequence[Row], history: Sequence[Row], deals: Sequence[Row],
               method_max: Callable[[Row], Any]) -> list[dict[int, Any]]:
        """For each event of one client (in (created_at, id) order), its streamed aggregates by index.
        `history` is every payment of the client that a window can reach, in (created_at, id) order,
        the events among them; `deals` the client's deals in time order."""
        if not events:
            return []
        first = events[0]["created_at"]
        for w in self.payments:
            w.reset(first)
        for w in self.deals:
            w.reset(first)
        payments, deal_windows, keys = self.payments, self.deals, self.keys
        # The hot loop of a test run (every history row, every event, every window): each window's
        # parts bound to locals once per client, pushes and evictions inlined. A row's position in the
        # client's history (a deal's in its deals) is the sequence number _Max needs: one entry per
        # row and window, increasing.
        # The filter columns read once per row (one column up to 62 filters), each window testing its bit.
        mask_columns = sorted({mask_bit(w.filter)[0] for w in payments})
        tests = [(w.since, mask_columns.index(mask_bit(w.filter)[0]), mask_bit(w.filter)[1], w.key, w.column,
                  w.entries, w.states, w.make) for w in payments]
        deal_parts = [(w.since, w.column, w.entries, w.states, w.make) for w in deal_windows]
        reads = [(i, w.span, w.key, w.entries, w.states, w.empty)
                 for i, w in zip(self.pay_index, payments, strict=True)]
        reads += [(i, w.span, 0, w.entries, w.states, w.empty)
                  for i, w in zip(self.deal_index, deal_windows, strict=True)]
        key_fns = [(n, k) for n, k in enumerate(keys) if k is not None]
        n_keys = len(keys)
        scans = [(i, self.aggs[i], self.passes(i)) for i in self.scan_index]
        times = [h["created_at"] for h in history]
        n_history, n_deals = len(history), len(deals)
        reach = min((w.since for w in payments), default=first)
        latest = max((w.since for w in payments), default=first)
        out: list[dict[int, Any]] = []
        hi = di = 0
        no_key: tuple[Any, ...] = ()
        for event in events:
            at, pid = event["created_at"], event["id"]
            while hi < n_history and (times[hi] < at or (times[hi] == at and history[hi]["id"] < pid)):
                row, ts = history[hi], times[hi]
                hi += 1
                if ts <= reach:  # leaves every window before the client's first event
                    continue
                row_keys: list[tuple[Any, ...] | None] = [no_key] * n_keys
                for n, k in key_fns:
                    row_keys[n] = k(row)
                masks = [row[c] for c in mask_columns]
                fresh = ts > latest  # inside every window's reach: no window's `since` to compare
                for since, column, bit, kn, of, entries, states, make in tests:
                    if masks[column] & bit and (fresh or ts > since) and (key := row_keys[kn]) is not None:
                        value = row[of] if of is not None else None
                        entries.append((ts, key, hi, value))
                        state = states.get(key)
                        if state is None:
                            state = states[key] = make()
                        state.add(hi, value)
            while di < n_deals and (ts := deals[di]["time"]) <= at:
                row = deals[di]
                di += 1
                for since, of, entries, states, make in deal_parts:
                    if ts > since:
                        value = row[of] if of is not None else None
                        entries.append((ts, no_key, di, value))
                        state = states.get(no_key)
                        if state is None:
                            state = states[no_key] = make()
                        state.add(di, value)
            values: dict[int, Any] = {}
            event_keys: list[tuple[Any, ...] | None] = [no_key] * n_keys
            for n, k in key_fns:
                event_keys[n] = k(event)
            floors: dict[timedelta, datetime] = {}
            for i, span, kn, entries, states, empty in reads:
                floor = floors.get(span)
                if floor is None:
                    floor = floors[span] = at - span
                while entries and entries[0][0] <= floor:
                    _, gone, seq, value = entries.popleft()
                    states[gone].remove(seq, value)
                key = event_keys[kn]
                state = states.get(key) if key is not None else None
                values[i] = state.value() if state is not None else empty
            # Another payment of the client at this very instant, after the event: the statement
            # counts it, the windows have not seen it yet.
            if hi < n_history and times[hi] == at and any(
                    h["id"] != pid for h in history[hi:bisect_right(times, at, hi)]):
                for i in self.pay_index:
                    values[i] = scan_payment(self.aggs[i], self.passes(i), history, times, event, None)
            for i, a, keep in scans:
                values[i] = scan_payment(a, keep, history, times, event, method_max(event))
            out.append(values)
        return out
