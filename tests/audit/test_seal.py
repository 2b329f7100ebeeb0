from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from domain.audit import service
from domain.audit.chain import partition_for
from domain.audit.models import AuditSeal
from domain.audit.seal import merkle_root, seal_day, seal_due_days
from domain.audit.verify import ProblemKind, verify
from tests.audit.conftest import rehash, write_events

PART = partition_for("req-1")


def test_merkle_root_is_rfc6962() -> None:
    import hashlib

    def leaf(x: bytes) -> bytes:
        return hashlib.sha256(b"\x00" + x).digest()

    def node(a: bytes, b: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + a + b).digest()

    a, b, c = b"a", b"b", b"c"
    assert merkle_root([]) == hashlib.sha256(b"").digest()
    assert merkle_root([a]) == leaf(a)
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))
    assert merkle_root([b, a, c]) != merkle_root([a, b, c])


async def _events_days_ago(session_factory: Any, monkeypatch: pytest.MonkeyPatch, days: int, n: int) -> list[int]:
    at = datetime.now(UTC).replace(hour=12) - timedelta(days=days)
    monkeypatch.setattr(service, "clock", lambda: at)
    ids = await write_events(session_factory, n)
    await write_events(session_factory, 2, correlation="someone-else")
    monkeypatch.undo()
    return ids


async def test_sealing_is_idempotent_and_covers_empty_days(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _events_days_ago(session_factory, monkeypatch, 3, 4)
    await write_events(session_factory, 1)  # today: not sealable yet
    async with session_factory() as session, session.begin():
        sealed = await seal_due_days(session)
    today = datetime.now(UTC).date()
    assert sealed == [today - timedelta(days=d) for d in (3, 2, 1)]
    async with session_factory() as session, session.begin():
        first = await session.get(AuditSeal, today - timedelta(days=3))
        assert first is not None and first.row_count == 6 and first.partition_count == 64
        assert await seal_due_days(session) == []
        again = await seal_day(session, first.day)
        assert bytes(again.merkle_root) == bytes(first.merkle_root) and again.sealed_at == first.sealed_at
        with pytest.raises(ValueError, match="not closed"):
            await seal_day(session, today)
    async with session_factory() as session:
        report = await verify(session)
    assert report.ok and report.seals_checked == 3


async def test_seal_detects_a_rehashed_edit_in_a_sealed_day(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, attacker: asyncpg.Connection
) -> None:
    ids = await _events_days_ago(session_factory, monkeypatch, 2, 5)
    await write_events(session_factory, 2)  # today, after the sealed day
    async with session_factory() as session, session.begin():
        await seal_due_days(session)
    await attacker.execute("UPDATE audit_events SET after = '{\"n\": 0}' WHERE id = $1", ids[2])
    await rehash(attacker, PART, 3)
    async with session_factory() as session:
        report = await verify(session)
    assert report.first is not None
    assert (report.first.kind, report.first.partition, report.first.day) == (
        ProblemKind.SEAL_MISMATCH, PART, datetime.now(UTC).date() - timedelta(days=2))
    assert len(report.problems) == 1  # the chains themselves were re-hashed consistently


async def test_seal_detects_a_row_slipped_into_a_sealed_empty_day(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _events_days_ago(session_factory, monkeypatch, 3, 1)
    async with session_factory() as session, session.begin():
        await seal_due_days(session)
    # A correctly chained event written later but back-dated into a sealed (empty) day.
    at = datetime.now(UTC).replace(hour=12) - timedelta(days=2)
    monkeypatch.setattr(service, "clock", lambda: at)
    await write_events(session_factory, 1)
    async with session_factory() as session:
        report = await verify(session)
    assert report.first is not None and report.first.kind is ProblemKind.SEAL_MISMATCH
    assert report.first.day == at.date()


async def test_seal_job_and_cron(session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    from jobs.audit import cron_jobs, seal_audit_days

    await _events_days_ago(session_factory, monkeypatch, 1, 1)
    ctx = {"session_factory": session_factory, "settings": settings}
    assert await seal_audit_days(ctx) == 1
    assert await seal_audit_days(ctx) == 0  # a second delivery changes nothing
    assert [job.name for job in cron_jobs(settings)] == ["cron:seal_audit_days"]
