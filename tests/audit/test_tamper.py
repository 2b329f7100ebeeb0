"""An attacker with DBA rights (triggers disabled) changes one thing; verify names the first broken link."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg

from domain.audit.chain import link_hash, partition_for
from domain.audit.verify import ProblemKind, VerifyReport, verify
from tests.audit.conftest import content_of, rehash, write_events

PART = partition_for("req-1")


async def _verify(session_factory: Any) -> VerifyReport:
    async with session_factory() as session:
        return await verify(session)


async def test_intact_trail_verifies(session_factory: Any) -> None:
    await write_events(session_factory, 5)
    await write_events(session_factory, 3, correlation="other")
    report = await _verify(session_factory)
    assert report.ok and report.rows_checked == 8 and report.partitions_checked == 64


async def test_edited_row_is_a_hash_mismatch(session_factory: Any, attacker: asyncpg.Connection) -> None:
    ids = await write_events(session_factory, 5)
    await attacker.execute("""UPDATE audit_events SET after = '{"n": 999}' WHERE id = $1""", ids[2])
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.partition, first.seq, first.event_id) == (ProblemKind.HASH_MISMATCH, PART, 3, ids[2])


async def test_edited_and_rehashed_row_breaks_the_next_link(session_factory: Any, attacker: asyncpg.Connection) -> None:
    ids = await write_events(session_factory, 5)
    row = await attacker.fetchrow("SELECT * FROM audit_events WHERE id = $1", ids[1])
    forged = content_of(row, reason="nothing to see")
    await attacker.execute("UPDATE audit_events SET reason = $1, hash = $2 WHERE id = $3",
                           "nothing to see", link_hash(row["prev_hash"], forged), ids[1])
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.seq, first.event_id) == (ProblemKind.BROKEN_LINK, 3, ids[2])


async def test_deleted_row_is_a_missing_seq(session_factory: Any, attacker: asyncpg.Connection) -> None:
    ids = await write_events(session_factory, 5)
    await attacker.execute("DELETE FROM audit_events WHERE id = $1", ids[2])
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.partition, first.seq, first.event_id) == (ProblemKind.MISSING_SEQ, PART, 3, ids[3])


async def test_deleted_tail_is_a_head_mismatch(session_factory: Any, attacker: asyncpg.Connection) -> None:
    ids = await write_events(session_factory, 5)
    await attacker.execute("DELETE FROM audit_events WHERE id = $1", ids[4])
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.partition, first.seq) == (ProblemKind.HEAD_MISMATCH, PART, 5)


async def test_forged_row_is_a_hash_mismatch(session_factory: Any, attacker: asyncpg.Connection) -> None:
    ids = await write_events(session_factory, 5)
    head = await attacker.fetchval("SELECT hash FROM audit_events WHERE id = $1", ids[4])
    forged_id = await attacker.fetchval(
        """INSERT INTO audit_events (partition, seq, occurred_at, actor_kind, action, entity_type, entity_id, after,
               category, retain_until, prev_hash, hash)
           SELECT partition, 6, occurred_at, 'staff', 'thing.changed', 'thing', '99', '{"n": 1}', 'general',
               retain_until, $2, $3 FROM audit_events WHERE id = $1 RETURNING id""",
        ids[4], head, hashlib.sha256(b"forged").digest())
    await attacker.execute("UPDATE audit_chain_heads SET seq = 6, hash = $1 WHERE partition = $2",
                           hashlib.sha256(b"forged").digest(), PART)
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.partition, first.seq, first.event_id) == (ProblemKind.HASH_MISMATCH, PART, 6, forged_id)


async def test_forged_row_with_a_valid_hash_is_a_head_mismatch(
    session_factory: Any, attacker: asyncpg.Connection
) -> None:
    ids = await write_events(session_factory, 5)
    row = await attacker.fetchrow("SELECT * FROM audit_events WHERE id = $1", ids[4])
    forged_id = await attacker.fetchval("SELECT nextval('audit_events_id_seq')")
    content = content_of(row, id=forged_id, seq=6, reason="forged")
    await attacker.execute(
        """INSERT INTO audit_events SELECT $1, partition, 6, occurred_at, actor_kind, actor_user_id, api_token_id,
               ip, user_agent, action, entity_type, entity_id, before, after, 'forged', category, correlation_id,
               retain_until, hash, $2 FROM audit_events WHERE id = $3""",
        forged_id, link_hash(row["hash"], content), ids[4])
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.partition, first.seq) == (ProblemKind.HEAD_MISMATCH, PART, 7)


async def test_swapped_rows_are_reordered(session_factory: Any, attacker: asyncpg.Connection) -> None:
    ids = await write_events(session_factory, 5)
    await attacker.execute("UPDATE audit_events SET seq = 1000 WHERE id = $1", ids[1])
    await attacker.execute("UPDATE audit_events SET seq = 2 WHERE id = $1", ids[2])
    await attacker.execute("UPDATE audit_events SET seq = 3 WHERE id = $1", ids[1])
    first = (await _verify(session_factory)).first
    assert first is not None
    assert (first.kind, first.partition, first.seq, first.event_id) == (ProblemKind.REORDERED, PART, 2, ids[2])


async def test_fully_rehashed_edit_passes_the_chain_check(session_factory: Any, attacker: asyncpg.Connection) -> None:
    """Why seals exist: an attacker who re-chains everything after an edit fools the chains alone."""
    ids = await write_events(session_factory, 5)
    await attacker.execute("UPDATE audit_events SET reason = 'rewritten' WHERE id = $1", ids[1])
    await rehash(attacker, PART, 2)
    assert (await _verify(session_factory)).ok


async def test_verify_cli_exit_status(
    session_factory: Any, attacker: asyncpg.Connection, settings: Any, capsys: Any
) -> None:
    from domain.audit.verify import verify_cli

    ids = await write_events(session_factory, 3)
    assert await verify_cli(settings.database_url, settings) == 0
    assert "audit trail intact" in capsys.readouterr().out
    await attacker.execute("DELETE FROM audit_events WHERE id = $1", ids[0])
    assert await verify_cli(settings.database_url, settings) == 1
    assert "missing_seq" in capsys.readouterr().out
