"""Running a reconciliation as of a cutoff, and reading runs.

A run is one transaction: the four section statements fill a temp table, then matches are
replaced and breaks upserted on (run, section, key). Re-running a cutoff therefore yields the same
breaks for the same data, keeps their workflow state, reopens a cleared one that is back, and
marks `cleared` (never deletes) an open break whose cause went away. Concurrent runs of one cutoff
queue on an advisory lock, so arq delivering the job twice is harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reconciliation.errors import InvalidCutoff, RunNotFound
from domain.reconciliation.sections import CREATE_ROWS, SECTIONS
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.errors import UnknownCurrency
from domain.shared.money import currency as currency_info
from domain.shared.pagination import Page, PageRequest, sql_page

WINDOW = timedelta(days=1)
# How far past either end of the window a counterpart is still looked for (timing breaks).
GRACE = timedelta(days=1)
# Platform snapshots older than this before the cutoff are not used for section (d).
SNAPSHOT_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True)
class RunView:
    id: int
    cutoff: datetime
    window_start: datetime
    status: str
    summary: dict[str, Any]
    attempts: int
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None
    created_at: datetime


_RUN_COLUMNS = ("id, cutoff, window_start, status, summary, attempts, duration_ms, started_at, finished_at, "
                "created_at")


def _view(r: Any) -> RunView:
    return RunView(int(r.id), r.cutoff, r.window_start, r.status, dict(r.summary), int(r.attempts), r.duration_ms,
                   r.started_at, r.finished_at, r.created_at)


_CLAIM = text(
    f"""
    INSERT INTO reconciliation_runs (cutoff, window_start, status, attempts, started_at)
    VALUES (:cutoff, :start, 'running', 1, clock_timestamp())
    ON CONFLICT (cutoff) DO UPDATE SET attempts = reconciliation_runs.attempts + 1, status = 'running',
        window_start = excluded.window_start, started_at = excluded.started_at
    RETURNING {_RUN_COLUMNS}
    """  # noqa: S608 - constant column list
)
_MATCHES = text(
    "INSERT INTO reconciliation_matches (run_id, section, key, ledger_ref, other_ref, amount) "
    "SELECT :run, section, key, ledger_ref, other_ref, amount FROM recon_rows "
    "WHERE kind = 'matched' AND section IN ('trading', 'psp', 'bank')"
)
_UPSERT_BREAKS = text(
    """
    INSERT INTO reconciliation_breaks (run_id, section, kind, key, currency, amount_diff, evidence, suggested_cause)
    SELECT :run, section, kind, key, currency, amount_diff, evidence, cause FROM recon_rows WHERE kind <> 'matched'
    ON CONFLICT (run_id, section, key) DO UPDATE SET
        kind = excluded.kind, currency = excluded.currency, amount_diff = excluded.amount_diff,
        evidence = excluded.evidence, suggested_cause = excluded.suggested_cause,
        status = CASE WHEN reconciliation_breaks.status = 'cleared' THEN 'open' ELSE reconciliation_breaks.status END,
        updated_at = now()
    WHERE (reconciliation_breaks.kind, reconciliation_breaks.amount_diff, reconciliation_breaks.evidence,
           reconciliation_breaks.status = 'cleared')
        IS DISTINCT FROM (excluded.kind, excluded.amount_diff, excluded.evidence, false)
    """
)
# NOT IN over the run's breaks is a hashed subplan whatever the estimates: the breaks were just upserted in this
# transaction, so their statistics say a handful, and NOT EXISTS was planned as a nested loop over recon_rows
# (30 s for 10,000 bank breaks). Both columns are NOT NULL, so NOT IN means what NOT EXISTS did.
_CLEAR_GONE = text(
    """
    UPDATE reconciliation_breaks b SET status = 'cleared', updated_at = now()
    WHERE b.run_id = :run AND b.status = 'open' AND (CAST(b.section AS text), CAST(b.key AS text)) NOT IN (
        SELECT r.section, r.key FROM recon_rows r WHERE r.kind <> 'matched')
    """
)
_CM_CURRENCIES = text(
    "SELECT DISTINCT currency FROM ledger_accounts WHERE purpose IN ('client_wallet', 'trading_account_mirror') "
    "UNION SELECT DISTINCT currency FROM client_money_resources WHERE as_of = :d "
    "UNION SELECT DISTINCT currency FROM reconciliation_platform_balances WHERE captured_at > :f AND captured_at <= :c"
)
_CM_LINES = text("SELECT evidence || jsonb_build_object('kind', kind) AS line FROM recon_rows "
                 "WHERE section = 'client_money' ORDER BY key")
_COUNTS = text("SELECT section, kind, count(*) AS n FROM recon_rows GROUP BY 1, 2 ORDER BY 1, 2")


def close_date(cutoff: datetime) -> date:
    """The business day a cutoff closes: a midnight cutoff closes the day before."""
    return (cutoff - timedelta(microseconds=1)).astimezone(UTC).date()


async def _scales(session: AsyncSession, day: date, cutoff: datetime) -> tuple[list[str], list[int]]:
    """Each client-money currency's scale (8, the ledger's, for a code the money module does not know)."""
    codes = sorted(str(c) for c in (await session.scalars(
        _CM_CURRENCIES, {"d": day, "f": cutoff - SNAPSHOT_MAX_AGE, "c": cutoff})).all())
    scales = []
    for code in codes:
        try:
            scales.append(currency_info(code).scale)
        except UnknownCurrency:
            scales.append(8)
    return codes, scales


def latest_midnight(now: datetime | None = None) -> datetime:
    """The daily cutoff: the most recent 00:00 UTC."""
    return (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)


async def run_reconciliation(
    session: AsyncSession, actor: Actor, cutoff: datetime, *, window: timedelta = WINDOW, grace: timedelta = GRACE,
) -> RunView:
    """Reconcile the window (cutoff - window, cutoff]; the caller owns the transaction."""
    if cutoff.tzinfo is None:
        raise InvalidCutoff("the cutoff needs a UTC offset", field="cutoff")
    if cutoff > utcnow():
        raise InvalidCutoff("the cutoff cannot be in the future", field="cutoff")
    if window <= timedelta(0) or grace < timedelta(0):
        raise InvalidCutoff("the window must be positive", field="cutoff")
    began = time.perf_counter()
    start = cutoff - window
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('recon.run'), hashtext(:c))"),
                          {"c": cutoff.isoformat()})
    run = _view((await session.execute(_CLAIM, {"cutoff": cutoff, "start": start})).one())
    await session.execute(CREATE_ROWS)
    await session.execute(text("TRUNCATE recon_rows"))
    day = close_date(cutoff)
    codes, scales = await _scales(session, day, cutoff)
    params = {"start": start, "cutoff": cutoff, "lo": start - grace, "hi": cutoff + grace,
              "snap_from": cutoff - SNAPSHOT_MAX_AGE, "close_date": day, "cm_codes": codes, "cm_scales": scales}
    timings: dict[str, int] = {}
    for name, statement in SECTIONS:
        t0 = time.perf_counter()
        await session.execute(statement, params)
        timings[name] = round((time.perf_counter() - t0) * 1000)
    await session.execute(text("ANALYZE recon_rows"))
    await session.execute(text("DELETE FROM reconciliation_matches WHERE run_id = :run"), {"run": run.id})
    await session.execute(_MATCHES, {"run": run.id})
    await session.execute(_UPSERT_BREAKS, {"run": run.id})
    await session.execute(_CLEAR_GONE, {"run": run.id})
    summary = await _summary(session, run.id, timings)
    duration = round((time.perf_counter() - began) * 1000)
    row = (await session.execute(text(
        f"UPDATE reconciliation_runs SET status = 'done', summary = CAST(:s AS jsonb), duration_ms = :d, "  # noqa: S608
        f"finished_at = clock_timestamp() WHERE id = :id RETURNING {_RUN_COLUMNS}"),
        {"s": _json(summary), "d": duration, "id": run.id})).one()
    await audit.record(session, actor, action="reconciliation.run", entity_type="reconciliation_run",
                       entity_id=run.id, after={"cutoff": cutoff.isoformat(), "breaks": summary["breaks"],
                                                "attempt": run.attempts})
    return _view(row)


async def _summary(session: AsyncSession, run_id: int, timings: dict[str, int]) -> dict[str, Any]:
    sections: dict[str, dict[str, int]] = {name: {} for name, _ in SECTIONS}
    for r in (await session.execute(_COUNTS)).all():
        sections[r.section][r.kind] = int(r.n)
    open_breaks = await session.scalar(text(
        "SELECT count(*) FROM reconciliation_breaks WHERE run_id = :r AND status = 'open'"), {"r": run_id})
    found = sum(n for counts in sections.values() for kind, n in counts.items() if kind != "matched")
    client_money = [dict(r) for r in (await session.scalars(_CM_LINES)).all()]
    return {"sections": sections, "breaks": found, "clientMoney": client_money, "openBreaks": int(open_breaks or 0),
            "matched": sum(c.get("matched", 0) for c in sections.values()), "timingsMs": timings}


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


async def get_run(session: AsyncSession, run_id: int) -> RunView:
    row = (await session.execute(text(f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE id = :id"),  # noqa: S608
                                 {"id": run_id})).first()
    if row is None:
        raise RunNotFound("no such reconciliation run", field="id")
    return _view(row)


async def runs_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, RunView]:
    rows = (await session.execute(text(
        f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE id = ANY(:ids)"), {"ids": ids})).all()  # noqa: S608
    return {v.id: v for v in map(_view, rows)}


async def list_runs(session: AsyncSession, page: PageRequest) -> Page[RunView]:
    return await sql_page(session, page, columns=_RUN_COLUMNS, source="reconciliation_runs", where=[], params={},
                          key=("created_at", "id"), descending=True, convert=_view)
