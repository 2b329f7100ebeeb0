"""Recompute every chain and every seal; report the first broken link of each partition.

What each check catches:
- a row's hash does not match its content: the row was edited (HASH_MISMATCH), or moved to
  another seq (REORDERED: its content hashes correctly under a different seq);
- a row's prev_hash is not the previous row's hash: a row before it was edited and re-hashed, or
  this one was forged (BROKEN_LINK);
- a gap in seq: a row was deleted (MISSING_SEQ);
- the chain head table disagrees with the last row: the tail was deleted or a row appended
  outside record() (HEAD_MISMATCH);
- a sealed day no longer has the sealed Merkle root: rows of that day were changed, added or
  removed, even with the chain re-hashed (SEAL_MISMATCH).

Against an insider who also re-seals the day in the database, the seals that count are the signed
copies exported off it (export.py): each exported day is recomputed from the rows (SEAL_MISMATCH),
its signature checked with the configured public key (SEAL_SIGNATURE), its link to the previous
exported seal followed (SEAL_CHAIN: one removed or replaced), the database's own seal compared
with it (SEAL_MISMATCH: re-sealed), and a database seal never exported is reported (SEAL_NOT_EXPORTED).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.chain import GENESIS, PARTITIONS, EventContent, links
from domain.audit.export import SealArchive, body_digest, day_of, problems_with_export, read_document, seal_archive
from domain.audit.models import AuditChainHead, AuditEvent, AuditSeal
from domain.audit.seal import compute_day
from domain.shared.settings import ConfigurationError, Settings

# How far from its place a moved row is looked for when telling "reordered" from "edited".
REORDER_WINDOW = 1024
BATCH = 5000

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ProblemKind(StrEnum):
    HASH_MISMATCH = "hash_mismatch"
    BROKEN_LINK = "broken_link"
    MISSING_SEQ = "missing_seq"
    REORDERED = "reordered"
    HEAD_MISMATCH = "head_mismatch"
    SEAL_MISMATCH = "seal_mismatch"
    SEAL_SIGNATURE = "seal_signature"
    SEAL_CHAIN = "seal_chain"
    SEAL_NOT_EXPORTED = "seal_not_exported"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    detail: str
    partition: int | None = None
    seq: int | None = None
    event_id: int | None = None
    day: date | None = None


@dataclass
class VerifyReport:
    rows_checked: int = 0
    partitions_checked: int = 0
    seals_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


_COLUMNS = [
    AuditEvent.id, AuditEvent.partition, AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.actor_kind,
    AuditEvent.actor_user_id, AuditEvent.api_token_id, AuditEvent.ip, AuditEvent.user_agent, AuditEvent.action,
    AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.before, AuditEvent.after, AuditEvent.reason,
    AuditEvent.category, AuditEvent.correlation_id, AuditEvent.retain_until, AuditEvent.prev_hash, AuditEvent.hash,
]


def _content(row: Any, seq: int | None = None) -> EventContent:
    return EventContent(
        id=row.id, partition=row.partition, seq=row.seq if seq is None else seq, occurred_at=row.occurred_at,
        actor_kind=row.actor_kind, actor_user_id=row.actor_user_id, api_token_id=row.api_token_id, ip=row.ip,
        user_agent=row.user_agent, action=row.action, entity_type=row.entity_type, entity_id=row.entity_id,
        before=row.before, after=row.after, reason=row.reason, category=row.category,
        correlation_id=row.correlation_id, retain_until=row.retain_until,
    )


def _chained_at(row: Any) -> int | None:
    """The seq under which this row's content hashes correctly, if not its own (a moved row)."""
    prev = bytes(row.prev_hash)
    for seq in range(max(1, row.seq - REORDER_WINDOW), row.seq + REORDER_WINDOW):
        if seq != row.seq and links(prev, _content(row, seq), bytes(row.hash)):
            return seq
    return None


def check_row(row: Any, expected_seq: int, expected_prev: bytes, last_id: int) -> Problem | None:
    """The problem with this row given the chain so far, or None when it links correctly."""
    part = row.partition
    if row.seq > expected_seq:
        return Problem(ProblemKind.MISSING_SEQ, f"seq {expected_seq} to {row.seq - 1} missing before event {row.id}",
                       part, expected_seq, row.id)
    if row.seq < expected_seq:
        return Problem(ProblemKind.REORDERED, f"seq {row.seq} appears again at event {row.id}", part, row.seq, row.id)
    if not links(bytes(row.prev_hash), _content(row), bytes(row.hash)):
        moved_from = _chained_at(row)
        if moved_from is not None:
            return Problem(ProblemKind.REORDERED, f"event {row.id} was written at seq {moved_from}, found at seq "
                           f"{row.seq}", part, row.seq, row.id)
        return Problem(ProblemKind.HASH_MISMATCH, f"event {row.id} does not match its hash (edited)", part,
                       row.seq, row.id)
    if bytes(row.prev_hash) != expected_prev:
        return Problem(ProblemKind.BROKEN_LINK, f"event {row.id} does not link to seq {row.seq - 1} (a previous row "
                       "was re-hashed, or this row is forged)", part, row.seq, row.id)
    if row.id <= last_id:
        return Problem(ProblemKind.REORDERED, f"event {row.id} is out of id order", part, row.seq, row.id)
    return None


async def _verify_partition(session: AsyncSession, part: int, report: VerifyReport) -> None:
    expected_seq, expected_prev, last_id = 1, GENESIS, 0
    while True:
        stmt = (select(*_COLUMNS).where(AuditEvent.partition == part, AuditEvent.seq >= expected_seq)
                .order_by(AuditEvent.seq).limit(BATCH))
        rows = list(await session.execute(stmt))
        for row in rows:
            problem = check_row(row, expected_seq, expected_prev, last_id)
            if problem is not None:
                report.problems.append(problem)
                return
            report.rows_checked += 1
            expected_seq, expected_prev, last_id = row.seq + 1, bytes(row.hash), row.id
        if len(rows) < BATCH:
            break
    head = await session.get(AuditChainHead, part)
    last_seq = expected_seq - 1
    if head is None or head.seq != last_seq or bytes(head.hash) != expected_prev:
        found = "no head" if head is None else f"head at seq {head.seq}"
        report.problems.append(Problem(ProblemKind.HEAD_MISMATCH, f"{found} but the chain ends at seq {last_seq} "
                                       "(rows deleted from or appended to the tail)", part, last_seq + 1))


async def _verify_seal(session: AsyncSession, seal: AuditSeal, report: VerifyReport) -> None:
    digest = await compute_day(session, seal.day)
    if digest.root == bytes(seal.merkle_root) and digest.row_count == seal.row_count:
        return
    sealed = {int(p["partition"]): p for p in seal.partitions}
    for now in digest.partitions:
        then = sealed.get(now.partition)
        if then is None or then["root"] != now.root.hex() or then["rows"] != now.rows:
            seq = (then or {}).get("first_seq") or now.first_seq
            report.problems.append(Problem(
                ProblemKind.SEAL_MISMATCH,
                f"day {seal.day} partition {now.partition}: {now.rows} rows now, "
                f"{(then or {}).get('rows')} sealed, Merkle root differs",
                now.partition, seq, None, seal.day))
            return
    report.problems.append(Problem(ProblemKind.SEAL_MISMATCH, f"day {seal.day}: the seal's root is not the root of "
                                   "its own partition roots (the seal was altered)", None, None, None, seal.day))


async def _verify_exported(
    session: AsyncSession, archive: SealArchive, db_seals: dict[date, AuditSeal], report: VerifyReport,
    progress: Progress | None,
) -> set[date]:
    """Check the rows against every exported, signed seal; returns the days those cover."""
    names = await archive.store.names()
    covered: set[date] = set()
    prev: str | None = None
    for i, name in enumerate(names):
        day = day_of(name)
        covered.add(day)
        blob = await archive.store.get(name)
        exported = read_document(name, blob or b"", archive.key)
        report.seals_checked += 1
        if progress:
            progress(f"exported seal {day}", PARTITIONS + i + 1, PARTITIONS + len(names))
        if not exported.signature_ok or exported.body.get("day") != day.isoformat():
            report.problems.append(Problem(ProblemKind.SEAL_SIGNATURE, f"the exported seal of {day} is not signed by "
                                           f"the audit seal key {archive.key.key_id}", day=day))
            prev = None
            continue
        if exported.body.get("prev") != prev:  # the first one ever exported has none
            before = f"the previous exported seal ({names[i - 1]})" if i else "nothing (the first exported seal)"
            report.problems.append(Problem(ProblemKind.SEAL_CHAIN, f"the exported seal of {day} does not follow "
                                           f"{before}: one was removed or replaced", day=day))
        prev = body_digest(exported.body)
        mismatch = problems_with_export(exported.body, await compute_day(session, day))
        if mismatch is not None:
            part, seq, detail = mismatch
            report.problems.append(Problem(ProblemKind.SEAL_MISMATCH, f"day {day} {detail}", part, seq, None, day))
            continue
        mine = db_seals.get(day)
        if mine is None or bytes(mine.merkle_root).hex() != exported.body.get("merkle_root"):
            report.problems.append(Problem(ProblemKind.SEAL_MISMATCH, f"day {day}: the database's seal "
                                           f"{'is missing' if mine is None else 'differs'} from the exported, "
                                           "signed one (re-sealed)", day=day))
    return covered


async def verify(
    session: AsyncSession, *, progress: Progress | None = None, archive: SealArchive | None = None,
) -> VerifyReport:
    """Check every partition's chain and every seal, in one consistent snapshot: the exported,
    signed seals of `archive` when given (what an insider cannot forge), and the database's own
    seals of the days not exported."""
    if not session.in_transaction():
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    report = VerifyReport()
    seals = list((await session.execute(select(AuditSeal).order_by(AuditSeal.day))).scalars())
    total = PARTITIONS + len(seals)
    for part in range(PARTITIONS):
        await _verify_partition(session, part, report)
        report.partitions_checked += 1
        if progress:
            progress(f"partition {part}", part + 1, total)
    covered: set[date] = set()
    if archive is not None:
        covered = await _verify_exported(session, archive, {s.day: s for s in seals}, report, progress)
    for i, seal in enumerate(seals):
        if seal.day in covered:
            continue
        if archive is not None:
            report.problems.append(Problem(ProblemKind.SEAL_NOT_EXPORTED, f"day {seal.day} is sealed in the database "
                                           "but has no exported, signed seal", day=seal.day))
        await _verify_seal(session, seal, report)
        report.seals_checked += 1
        if progress:
            progress(f"seal {seal.day}", PARTITIONS + i + 1, total)
    return report


async def verify_configured(
    session: AsyncSession, settings: Settings, *, progress: Progress | None = None
) -> VerifyReport:
    """verify() against the configured archive of exported seals; without one (production,
    unconfigured) the trail cannot be trusted and the report says why."""
    try:
        archive = seal_archive(settings)
    except ConfigurationError as exc:
        report = await verify(session, progress=progress)
        report.problems.append(Problem(ProblemKind.SEAL_NOT_EXPORTED, f"seals cannot be checked: {exc}"))
        return report
    return await verify(session, progress=progress, archive=archive)


async def verify_cli(database_url: str, settings: Settings) -> int:
    """`forexcrm audit-verify`: verify with a progress bar, print a summary; exit status 0 when intact."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn
    from sqlalchemy.ext.asyncio import create_async_engine

    from domain.shared.db import create_session_factory, normalise_database_url

    console = Console()
    engine = create_async_engine(normalise_database_url(database_url), pool_size=1,
                                 connect_args={"server_settings": {"timezone": "UTC"}})
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=console, transient=True) as bar:
            task = bar.add_task("verifying audit trail", total=PARTITIONS)

            def advance(stage: str, done: int, total: int) -> None:
                bar.update(task, description=f"verifying {stage}", completed=done, total=total)

            async with create_session_factory(engine)() as session:
                report = await verify_configured(session, settings, progress=advance)
    finally:
        await engine.dispose()
    console.print(f"checked {report.rows_checked} events in {report.partitions_checked} partitions "
                  f"and {report.seals_checked} daily seals")
    if report.ok:
        console.print("[green]audit trail intact[/green]")
        return 0
    for p in report.problems:
        where = f"partition {p.partition} seq {p.seq} event {p.event_id}" if p.partition is not None else ""
        console.print(f"[red]{p.kind.value}[/red] {where} {'day ' + str(p.day) if p.day else ''}: {p.detail}")
    return 1
