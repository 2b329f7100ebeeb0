"""Executing a re-screening run: every eligible client's names go through one match index (a small index of the
delta's entities, or the whole list's for a full run), read in id order a batch at a time.

- A delta index weighs name parts by their rarity in the whole list, so a client scores against a changed
  entity exactly as a full screening would score them.
- Each batch commits its new hits, the AML case each opened or joined, their audit and the run's progress
  (`last_client_id`, counts) in one transaction, guarded by the position it started from: a run carried on
  after a crash, or executed twice at once, resumes after the last client done and never counts a batch
  twice. A hit is one row per client, list and entity (a unique index): finding it again changes nothing.
- A pending hit whose entity left the list is delisted (resolved by the system, audited, with its reason), and
  its case gets a system note saying so; when nothing on the case is open any more the note says the case
  can be closed (its status stays: only an officer closes a case, with an outcome).
- A hit an officer dismissed is pending again when a delta run finds the client still matching its entity
  (its content changed since, or it was removed and listed again): the officer dismissed what the list said
  then. A full run, or an entity the import left unchanged, keeps dismissed hits dismissed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.compliance.aml import cases
from domain.compliance.aml.engine import open_or_join_case
from domain.compliance.lists import entity_of, index_for, indexes
from domain.compliance.matching import Match, MatchIndex
from domain.compliance.models import ScreeningEntity, ScreeningList
from domain.compliance.runs import COLUMNS, ScreeningRun, get_run, of_row
from domain.compliance.screening import queries_of
from domain.shared.actor import Actor
from domain.shared.db import Reader, SessionFactory, driver, in_transaction

log = structlog.get_logger(__name__)

ELIGIBLE = ("under_review", "approved", "active", "dormant", "more_info_required")
BATCH = 2000
CASE_TEAM = "compliance"
# A possible sanctions or PEP match waits at most a day (the SLA of a blocking alert).
CASE_OUTCOME = "block"
DELISTED_REASON = "entity removed from list"
REOPENED_REASON = "listing changed since dismissal"


@dataclass(frozen=True)
class Target:
    list_name: str
    list_version: str
    index: MatchIndex


@dataclass(frozen=True)
class Found:
    client_id: int
    user_id: int
    target: Target
    match: Match


async def targets_of(session: AsyncSession, run: ScreeningRun) -> list[Target]:
    """What the run screens against: the delta's entities, one whole list, or every list."""
    if run.list_id is None:
        return [Target(lst.name, lst.version, index) for lst, index in await indexes(session)]
    lst = await session.get(ScreeningList, run.list_id)
    if lst is None:
        return []
    whole = await index_for(session, lst)
    if run.kind == "full":
        return [Target(lst.name, lst.version, whole)]
    rows = await session.scalars(select(ScreeningEntity).where(ScreeningEntity.list_id == lst.id,
                                                              ScreeningEntity.entity_id.in_(run.entity_ids)))
    return [Target(lst.name, lst.version, MatchIndex.build((entity_of(r) for r in rows), rarity_of=whole))]


async def client_batch(session: Reader, after_id: int, upto_id: int, limit: int) -> list[Any]:
    """Eligible clients after `after_id` in id order (keyset on the primary key)."""
    return list(await (await driver(session)).fetch(
        "SELECT id, user_id, first_name, last_name, date_of_birth, country, profile->'company' AS company, "
        "profile->>'nationality' AS nationality "
        "FROM clients WHERE id > $1 AND id <= $2 AND status = ANY($3::text[]) ORDER BY id LIMIT $4",
        after_id, upto_id, list(ELIGIBLE), limit))


def screen(rows: Sequence[Any], targets: Sequence[Target], threshold: float) -> tuple[list[Found], int]:
    """Every client's names through every target index; (the best match per client and entity, searches)."""
    found: list[Found] = []
    searches = 0
    for r in rows:
        company = r["company"]
        if isinstance(company, str):
            company = orjson.loads(company)
        queries = queries_of(f"{r['first_name']} {r['last_name']}".strip(), r["date_of_birth"], r["country"],
                             company if isinstance(company, dict) else None, r["nationality"])
        for target in targets:
            best: dict[str, Match] = {}
            for query in queries:
                searches += 1
                for match in target.index.search(query, threshold=threshold):
                    prior = best.get(match.entity.entity_id)
                    if prior is None or match.score > prior.score:
                        best[match.entity.entity_id] = match
            found.extend(Found(int(r["id"]), int(r["user_id"]), target, m) for m in best.values())
    return found, searches


_INSERT_HIT = """
INSERT INTO screening_results (client_id, list_name, list_version, matcher_version, threshold, score, entity_id,
                               entity_caption, topics, status, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[], 'pending', $10)
ON CONFLICT (client_id, list_name, entity_id) WHERE entity_id IS NOT NULL DO UPDATE
    SET status = 'pending', list_version = EXCLUDED.list_version, score = EXCLUDED.score,
        entity_caption = EXCLUDED.entity_caption, topics = EXCLUDED.topics, run_id = EXCLUDED.run_id,
        reviewed_by = NULL, review_reason = NULL, case_id = NULL
    WHERE screening_results.status = 'delisted'
RETURNING id
"""

# The dismissed hit on a changed entity, pending again with what the list says now (once per run).
_REOPEN_HIT = """
UPDATE screening_results r
    SET status = 'pending', list_version = $4, score = $5, entity_caption = $6, topics = $7::text[], run_id = $8,
        reviewed_by = NULL, review_reason = $9, case_id = NULL
FROM (SELECT id, reviewed_by, review_reason FROM screening_results
      WHERE client_id = $1 AND list_name = $2 AND entity_id = $3 AND status = 'dismissed'
        AND run_id IS DISTINCT FROM $8 FOR UPDATE) old
WHERE r.id = old.id
RETURNING r.id, old.reviewed_by, old.review_reason
"""


async def store_hits(session: AsyncSession, actor: Actor, run: ScreeningRun, found: Sequence[Found]) -> int:
    """New hits (a hit on file stays as reviewed, save a dismissed one on an entity of a delta run; a delisted one
    whose entity is listed again is pending again), each opening or joining the client's case; returns how many."""
    conn = await driver(session)
    by_client: dict[int, list[Found]] = defaultdict(list)
    for f in found:
        by_client[f.client_id].append(f)
    delta = set(run.entity_ids) if run.kind == "delta" else set()
    created = 0
    for client_id, items in by_client.items():
        new: list[tuple[int, Found]] = []
        for f in items:
            topics = [t[:32] for t in f.match.entity.topics]
            hit_id = await conn.fetchval(
                _INSERT_HIT, client_id, f.target.list_name, f.target.list_version, run.matcher_version,
                run.threshold, f.match.score, f.match.entity.entity_id, f.match.entity.caption[:300], topics, run.id)
            if hit_id is None and f.match.entity.entity_id in delta:
                hit_id = await _reopen(session, actor, run, client_id, f, topics)
            if hit_id is not None:
                new.append((int(hit_id), f))
        if not new:
            continue
        case_id = 0
        for _ in new:
            case_id = await open_or_join_case(session, user_id=items[0].user_id, team=CASE_TEAM, outcome=CASE_OUTCOME)
        await conn.execute("UPDATE screening_results SET case_id = $1 WHERE id = ANY($2::bigint[])",
                           case_id, [hit_id for hit_id, _ in new])
        await record(session, actor, action="client.screened", entity_type="client", entity_id=client_id,
                     after={"run_id": run.id, "case_id": case_id, "matcher": run.matcher_version,
                            "threshold": str(run.threshold),
                            "hits": [{"id": hit_id, "list": f.target.list_name, "entity": f.match.entity.entity_id,
                                      "score": str(f.match.score)} for hit_id, f in new]}, category="compliance")
        created += len(new)
    return created


async def _reopen(session: AsyncSession, actor: Actor, run: ScreeningRun, client_id: int, f: Found,
                 topics: list[str]) -> int | None:
    row = await (await driver(session)).fetchrow(
        _REOPEN_HIT, client_id, f.target.list_name, f.match.entity.entity_id, f.target.list_version, f.match.score,
        f.match.entity.caption[:300], topics, run.id, REOPENED_REASON)
    if row is None:
        return None
    await record(session, actor, action="screening_result.reopened", entity_type="screening_result",
                 entity_id=int(row["id"]), before={"status": "dismissed", "reviewed_by": row["reviewed_by"],
                                                   "review_reason": row["review_reason"]},
                 after={"status": "pending", "run_id": run.id, "entity": f.match.entity.entity_id,
                        "list_version": f.target.list_version, "score": str(f.match.score)},
                 reason=REOPENED_REASON, category="compliance")
    return int(row["id"])


async def delist(session: AsyncSession, actor: Actor, run: ScreeningRun) -> int:
    """Resolve the pending hits on the run's removed entities (once: only pending ones change), with a note on
    each open case they were behind."""
    if not run.removed_ids or run.list_name is None:
        return 0
    conn = await driver(session)
    rows = await conn.fetch(
        "UPDATE screening_results SET status = 'delisted', review_reason = $3 "
        "WHERE list_name = $1 AND entity_id = ANY($2::text[]) AND status = 'pending' "
        "RETURNING id, entity_id, entity_caption, case_id",
        run.list_name, run.removed_ids, DELISTED_REASON)
    by_case: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        await record(session, actor, action="screening_result.resolved", entity_type="screening_result",
                     entity_id=int(r["id"]), before={"status": "pending"},
                     after={"status": "delisted", "run_id": run.id, "entity": r["entity_id"]},
                     reason=DELISTED_REASON, category="compliance")
        if r["case_id"] is not None:
            by_case[int(r["case_id"])].append(r)
    for case_id, hits in sorted(by_case.items()):
        await _note_delisted(session, actor, run, case_id, hits)
    if rows:
        await conn.execute("UPDATE screening_runs SET hits_delisted = hits_delisted + $2 WHERE id = $1",
                           run.id, len(rows))
    return len(rows)


async def _note_delisted(session: AsyncSession, actor: Actor, run: ScreeningRun, case_id: int,
                         hits: Sequence[Any]) -> None:
    """The system's note on an open case that its hits were delisted; a closed case is left as it is."""
    conn = await driver(session)
    if await conn.fetchval("SELECT status FROM aml_cases WHERE id = $1", case_id) in (None, "closed"):
        return
    lines = [f"Screening hit {r['id']} ({run.list_name} entity {r['entity_id']}, {r['entity_caption'] or 'no name'}) "
             f"was delisted: {DELISTED_REASON} (list version {run.list_version}, re-screening run {run.id})."
             for r in hits[:50]]
    if len(hits) > 50:
        lines.append(f"... and {len(hits) - 50} more.")
    # What is still open on the case: a monitoring alert is resolved only by closing the case; a hit by its review.
    still_open = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM aml_decisions WHERE case_id = $1) "
        "OR EXISTS (SELECT 1 FROM screening_results WHERE case_id = $1 AND status IN ('pending', 'confirmed'))",
        case_id)
    if not still_open:
        lines.append("Nothing on this case is open any more (no monitoring alert, no screening hit pending or "
                     "confirmed): review it and close it with its outcome.")
    await cases.add_note(session, actor, case_id, "\n".join(lines)[:10_000], reason=DELISTED_REASON)


async def _claim(session: AsyncSession, actor: Actor, run_id: int) -> ScreeningRun | None:
    conn = await driver(session)
    row = await conn.fetchrow(
        "UPDATE screening_runs SET status = 'running', started_at = coalesce(started_at, now()), "  # noqa: S608
        "updated_at = now(), upto_client_id = coalesce(upto_client_id, (SELECT coalesce(max(id), 0) FROM clients)) "
        f"WHERE id = $1 AND status IN ('queued', 'running') RETURNING {COLUMNS}", run_id)
    if row is None:
        return None
    run = of_row(row)
    if run.last_client_id == 0:
        total = await conn.fetchval("SELECT count(*) FROM clients WHERE id <= $1 AND status = ANY($2::text[])",
                                    run.upto_client_id, list(ELIGIBLE))
        await conn.execute("UPDATE screening_runs SET clients_total = $2 WHERE id = $1", run_id, int(total))
    await delist(session, actor, run)
    return await get_run(session, run_id)


async def _commit_batch(session: AsyncSession, actor: Actor, run: ScreeningRun, after_id: int, last_id: int,
                        clients: int, found: Sequence[Found]) -> int | None:
    """The batch's hits and the run's progress together; None when the run is no longer at `after_id`."""
    conn = await driver(session)
    moved = await conn.fetchval(
        "UPDATE screening_runs SET last_client_id = $3, clients_done = clients_done + $4, updated_at = now() "
        "WHERE id = $1 AND last_client_id = $2 AND status = 'running' RETURNING id", run.id, after_id, last_id, clients)
    if moved is None:
        return None
    created = await store_hits(session, actor, run, found)
    if created:
        await conn.execute("UPDATE screening_runs SET hits_found = hits_found + $2 WHERE id = $1", run.id, created)
    return created


@dataclass
class Stats:
    """What one execution did (the run row holds the totals over every execution)."""

    clients: int = 0
    searches: int = 0
    hits: int = 0


async def execute(factory: SessionFactory, actor: Actor, run_id: int, *, batch: int = BATCH,
                  stats: Stats | None = None) -> ScreeningRun | None:
    """Run (or carry on) a queued run to its end; a completed or failed run is left as it is."""
    stats = stats if stats is not None else Stats()
    run = await in_transaction(factory, lambda s: _claim(s, actor, run_id))
    if run is None:
        async with factory() as session:
            return await get_run(session, run_id)
    try:
        async with factory() as session:
            targets = await targets_of(session, run)
        after = run.last_client_id
        threshold = float(run.threshold)
        while True:
            async with factory() as session:
                rows = await client_batch(session, after, run.upto_client_id or 0, batch)
            if not rows:
                break
            found, searches = screen(rows, targets, threshold)
            last = int(rows[-1]["id"])

            async def commit(session: AsyncSession, start: int = after, end: int = last, n: int = len(rows),
                             hits: list[Found] = found) -> int | None:
                return await _commit_batch(session, actor, run, start, end, n, hits)

            created = await in_transaction(factory, commit)
            if created is None:  # another execution did this batch, or the run ended
                async with factory() as session:
                    current = await get_run(session, run_id)
                if current is None or current.status != "running":
                    return current
                after = current.last_client_id
                continue
            stats.clients += len(rows)
            stats.searches += searches
            stats.hits += created
            after = last
    except Exception as exc:
        log.exception("screening run failed", run_id=run_id)
        message = f"{type(exc).__name__}: {exc}"[:2000]

        async def failed(session: AsyncSession) -> None:
            await (await driver(session)).execute(
                "UPDATE screening_runs SET status = 'failed', finished_at = now(), updated_at = now(), error = $2 "
                "WHERE id = $1 AND status = 'running'", run_id, message)

        await in_transaction(factory, failed)
        raise

    async def finish(session: AsyncSession) -> ScreeningRun | None:
        done = await (await driver(session)).fetchval(
            "UPDATE screening_runs SET status = 'completed', finished_at = now(), updated_at = now() "
            "WHERE id = $1 AND status = 'running' RETURNING id", run_id)
        current = await get_run(session, run_id)
        if done is not None and current is not None:
            await record(session, actor, action="screening_run.completed", entity_type="screening_run",
                         entity_id=run_id, after={"kind": current.kind, "list": current.list_name,
                                                  "clients_total": current.clients_total,
                                                  "clients_done": current.clients_done,
                                                  "hits_found": current.hits_found,
                                                  "hits_delisted": current.hits_delisted}, category="compliance")
        return current

    return await in_transaction(factory, finish)


async def stalled(session: Reader, minutes: int) -> list[int]:
    """Runs queued or running whose progress has not moved for `minutes` (their worker died)."""
    rows = await (await driver(session)).fetch(
        "SELECT id FROM screening_runs WHERE status IN ('queued', 'running') "
        "AND updated_at < now() - make_interval(mins => $1) ORDER BY id", minutes)
    return [int(r["id"]) for r in rows]
