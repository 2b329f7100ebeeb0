"""Test runs: a scenario (the draft, beside the live version) replayed over a period of payments.

Each payment is scored as the inline decision would have scored it (engine.decide: the same rules
on the same values), but the history is read once, client by client, rather than once per payment:

- the events: the period's payments, one row each with the event's and client's fields and the
  aggregates of other sources (transfers, mirror deals, links: engine.statement, `streamed`), ordered
  by client then time;
- the history: every payment and deal of those clients that a window can reach, in the same order,
  each streamed aggregate kept as a sliding window (domain/compliance/aml/windows.py).

Three server-side cursors are read in step; memory holds one client's rows and the hits kept.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.compliance.aml import engine
from domain.compliance.aml.rules import Compiled
from domain.compliance.aml.windows import DEAL_COLUMNS, EXACT, PAYMENT_COLUMNS, ClientWindows
from domain.shared.db import Reader, driver

MAX_HITS = 500
BATCH = 5000
EVENTS = ("p.created_at >= $1 AND p.created_at < $2 AND p.direction = ANY($3::text[]) "
          "AND (p.direction = 'withdrawal' OR p.status IN ('succeeded', 'refunded', 'charged_back'))")
# The clients with an event in the period ($1 since, $2 until, $3 triggers).
CLIENTS = f"SELECT p.user_id FROM payments p WHERE {EVENTS}"  # noqa: S608 - constant
# Their payments after $4 and before $2 (what a window can reach) with the aggregates' filters on each
# ({filters}: windows.ClientWindows.filter_sql), and their deals likewise.
_COLUMNS = ", ".join("h." + c for c in PAYMENT_COLUMNS)
PAYMENT_HISTORY = ("SELECT " + _COLUMNS + "{filters} FROM payments h "  # noqa: S608 - constant
                   "WHERE h.created_at < $2 AND h.created_at > $4 AND h.user_id IN (" + CLIENTS + ") "
                   "ORDER BY h.user_id, h.created_at, h.id")
# With each client's last payment before those (days_since_last_payment of its first event), one
# index probe per client.
PAYMENT_HISTORY_WITH_PREVIOUS = (
    "SELECT " + _COLUMNS + "{filters} FROM payments h "  # noqa: S608 - constant
    "WHERE h.created_at < $2 AND h.created_at > $4 AND h.user_id IN (" + CLIENTS + ") "
    "UNION ALL SELECT " + _COLUMNS + "{filters} FROM (SELECT DISTINCT p.user_id FROM payments p WHERE " + EVENTS
    + ") c CROSS JOIN LATERAL (SELECT * FROM payments h WHERE h.user_id = c.user_id AND h.created_at <= $4 "
    "ORDER BY h.created_at DESC, h.id DESC LIMIT 1) h "
    "ORDER BY user_id, created_at, id")
DEAL_HISTORY = ("SELECT ta.user_id, d.time, d.volume, d.notional_usd, d.symbol, d.login "  # noqa: S608 - constant
                "FROM trading_accounts ta JOIN trading_deals d ON d.server_id = ta.server_id AND d.login = ta.login "
                f"WHERE d.time < $2 AND d.time > $4 AND ta.user_id IN ({CLIENTS}) ORDER BY ta.user_id, d.time")
assert DEAL_COLUMNS == ("user_id", "time", "volume", "notional_usd", "symbol", "login")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = Decimal(86400 * 10**6)


@dataclass
class RunHit:
    payment_id: int
    user_id: int
    at: datetime
    amount: Decimal
    currency: str
    direction: str
    draft_score: Decimal
    draft_outcome: str
    live_score: Decimal | None
    live_outcome: str | None
    draft_rules: list[str]


@dataclass
class RunResult:
    evaluated: int
    draft_counts: dict[str, int]
    live_counts: dict[str, int] | None
    hits: list[RunHit]  # the first max_hits raised, in time order
    hits_truncated: bool
    seconds: float


class _Groups:
    """A cursor's rows (ordered by user_id first) one client at a time."""

    def __init__(self, cursor: Any | None) -> None:
        self.cursor = cursor
        self.rows: list[Any] = []
        self.at = 0
        self.done = cursor is None
        self.col = 0  # user_id's position in the rows (index access: no lookup by name per row)

    async def _row(self) -> Any | None:
        if self.at == len(self.rows):
            if self.done or self.cursor is None:
                return None
            self.rows, self.at = await self.cursor.fetch(BATCH), 0
            if len(self.rows) < BATCH:
                self.done = True
            if not self.rows:
                return None
            self.col = list(self.rows[0].keys()).index("user_id")
        return self.rows[self.at]

    async def take(self, user_id: int) -> list[Any]:
        """The client's rows (skipping clients before it; none when it has none)."""
        out: list[Any] = []
        while (row := await self._row()) is not None and row[self.col] <= user_id:
            # The rest of the client's rows in this batch at once.
            rows, at, end, col = self.rows, self.at, len(self.rows), self.col
            while at < end and rows[at][col] < user_id:
                at += 1
            start = at
            while at < end and rows[at][col] == user_id:
                at += 1
            out.extend(rows[start:at])
            self.at = at
        return out

    async def groups(self) -> AsyncIterator[list[Any]]:
        while (row := await self._row()) is not None:
            yield await self.take(row["user_id"])


def _days_between(later: datetime, earlier: datetime) -> Decimal:
    """The statement's extract(epoch FROM later - earlier)::numeric / 86400, exactly."""
    return EXACT.divide(Decimal((later - earlier) // timedelta(microseconds=1)), _DAY_US)


def _key(at: datetime, payment_id: int) -> tuple[int, int]:
    return (at - _EPOCH) // timedelta(microseconds=1), payment_id


async def test_run(session: Reader, draft: Compiled, live: Compiled | None, *, since: datetime, until: datetime,
                   max_hits: int = MAX_HITS) -> RunResult:
    """Score every payment of [since, until) matching the draft's triggers (deposits that arrived,
    withdrawals as requested) by the draft and, beside it, by the live version. Reads only."""
    started = time.perf_counter()
    programs = [draft] + ([live] if live is not None else [])
    lists = await engine.load_lists(session, set().union(*(p.lists for p in programs)))
    triggers = sorted(set(draft.triggers) | (set(live.triggers) if live else set()))
    stmt = engine.statement(programs, lists, f"{EVENTS} ORDER BY p.user_id, p.created_at, p.id", streamed=True)
    windows = ClientWindows(stmt.aggs, lists)
    # Where each program's aggregates come from: a window (its index in stmt.aggs) or a column.
    # (index, column name or None: streamed), the column names built once rather than per payment.
    sources = [[(stmt.positions[a.key], None if a.source in ("payments", "deals") else f"a{stmt.positions[a.key]}")
                for a in p.aggs] for p in programs]
    since_last = any("days_since_last_payment" in p.fields for p in programs)
    pay_span = max((a.window_s for a in stmt.aggs if a.source == "payments"), default=0)
    deal_span = max((a.window_s for a in stmt.aggs if a.source == "deals"), default=0)
    uses_name = any(p.uses_name for p in programs)

    conn = await driver(session)
    # JIT off: compiling statements this size costs more than running them; the sorts fit in memory.
    await conn.execute("SET LOCAL jit = off")
    await conn.execute("SET LOCAL work_mem = '64MB'")
    events = _Groups(await conn.cursor(stmt.sql, since, until, triggers))
    history_sql = (PAYMENT_HISTORY_WITH_PREVIOUS if since_last else PAYMENT_HISTORY).format(
        filters=windows.filter_sql)
    history = _Groups(await conn.cursor(history_sql,
                                        since, until, triggers, since - timedelta(seconds=pay_span))
                      if windows.pay_index or windows.scan_index or since_last else None)
    deals = _Groups(await conn.cursor(DEAL_HISTORY, since, until, triggers, since - timedelta(seconds=deal_span))
                    if windows.deal_index else None)

    draft_counts = dict.fromkeys(engine.OUTCOME_RANK, 0)
    live_counts = dict.fromkeys(engine.OUTCOME_RANK, 0) if live is not None else None
    kept: list[tuple[int, int, RunHit]] = []  # the earliest max_hits raised: a heap on (-time, -id)
    raised_total = 0
    evaluated = 0
    async for client in events.groups():
        user_id = client[0]["user_id"]
        rows = await history.take(user_id)
        values = windows.values(client, rows, await deals.take(user_id), lambda e: e["method_max_amount"])
        previous = {r["id"]: i for i, r in enumerate(rows)} if since_last else {}
        for row, streamed in zip(client, values, strict=True):
            evaluated += 1
            if since_last:
                i = previous[row["id"]]
                row = dict(row)  # one copy (a record is read-only)
                row["days_since_last_payment"] = _days_between(row["created_at"], rows[i - 1]["created_at"]) \
                    if i else None
            name_score = engine.name_similarity(row["payer_name"], row["client_name"]) if uses_name else None
            scored: list[tuple[engine.Scored | None, dict[str, Any] | None]] = []
            for program, source in zip(programs, sources, strict=True):
                if row["direction"] not in program.triggers:
                    scored.append((None, None))
                    continue
                env = {"row": row, "aggs": [streamed[i] if c is None else row[c] for i, c in source], "lists": lists,
                       "name_score": name_score}
                scored.append((engine.score(program, env, explain=False), env))
            (d, d_env), (lv, _) = scored[0], (scored[1] if live is not None else (None, None))
            if d is not None:
                draft_counts[d.outcome] += 1
            if lv is not None and live_counts is not None:
                live_counts[lv.outcome] += 1
            if not ((d is not None and d.outcome != "allow") or (lv is not None and lv.outcome != "allow")):
                continue
            raised_total += 1
            at_us, pid = _key(row["created_at"], row["id"])
            if max_hits <= 0 or (len(kept) >= max_hits and (-at_us, -pid) <= kept[0][:2]):
                continue  # later than every hit kept
            rules = [r.name for r in draft.rules if r.when(d_env)] \
                if d is not None and d_env is not None and d.outcome != "allow" else []
            hit = RunHit(row["id"], user_id, row["created_at"], Decimal(row["amount"]), row["currency"],
                         row["direction"], d.score if d else Decimal(0), d.outcome if d else "allow",
                         lv.score if lv else None, lv.outcome if lv else None, rules)
            if len(kept) >= max_hits:
                heapq.heapreplace(kept, (-at_us, -pid, hit))  # the latest kept makes way
            else:
                heapq.heappush(kept, (-at_us, -pid, hit))
    hits = [h for _, _, h in sorted(kept, key=lambda k: (-k[0], -k[1]))]
    return RunResult(evaluated, draft_counts, live_counts, hits, raised_total > max_hits,
                     time.perf_counter() - started)
