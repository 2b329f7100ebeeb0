"""An insider with the database owner's rights (or a superuser's) against the exported, signed seals.

The runtime role can do none of these (test_append_only.py); the owner can do all of them, including
re-sealing the day in audit_seals. What it cannot do is sign: each attack is caught by verifying
against the seals exported off the database, which the database-only check misses once re-sealed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from domain.audit import service
from domain.audit.chain import partition_for
from domain.audit.export import (
    DirectorySealStore,
    SealArchive,
    SealNotExportable,
    export_seals,
    load_seal_key,
    seal_archive,
    seal_name,
)
from domain.audit.seal import compute_day, seal_due_days
from domain.audit.verify import ProblemKind, VerifyReport, verify
from domain.shared.settings import ConfigurationError, Mode, Settings
from jobs.audit import cron_jobs, seal_audit_days
from tests.audit.conftest import rehash, write_events

PART = partition_for("req-1")


async def _verify(session_factory: Any, archive: SealArchive | None = None) -> VerifyReport:
    async with session_factory() as session:
        return await verify(session, archive=archive)


async def _sealed_day(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, days_ago: int = 2, n: int = 5
) -> tuple[date, list[int]]:
    """n events in PART (and two elsewhere) on a past day, sealed and exported by the real job."""
    at = datetime.now(UTC).replace(hour=12) - timedelta(days=days_ago)
    monkeypatch.setattr(service, "clock", lambda: at)
    ids = await write_events(session_factory, n)
    await write_events(session_factory, 2, correlation="someone-else")
    monkeypatch.undo()
    assert await seal_audit_days({"session_factory": session_factory, "settings": settings}) == days_ago
    return at.date(), ids


async def _rewind_head(attacker: asyncpg.Connection, last_kept: int) -> None:
    row = await attacker.fetchrow("SELECT seq, hash FROM audit_events WHERE id = $1", last_kept)
    await attacker.execute("UPDATE audit_chain_heads SET seq = $1, hash = $2 WHERE partition = $3",
                           row["seq"], row["hash"], PART)


async def _reseal(attacker: asyncpg.Connection, session_factory: Any, day: date) -> None:
    """What the owner does last: replace the day's seal in the database with one of the rows now."""
    async with session_factory() as session:
        digest = await compute_day(session, day)
    await attacker.execute("DELETE FROM audit_seals WHERE day = $1", day)
    await attacker.execute(
        "INSERT INTO audit_seals (day, partition_count, row_count, partitions, merkle_root) "
        "VALUES ($1, 64, $2, $3::jsonb, $4)",
        day, digest.row_count, orjson.dumps([p.as_json() for p in digest.partitions]).decode(), digest.root)


def _first_seal_problem(report: VerifyReport) -> tuple[ProblemKind, int | None, date | None]:
    assert report.first is not None
    return report.first.kind, report.first.partition, report.first.day


async def test_an_intact_sealed_trail_verifies_against_the_exported_seals(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, archive: SealArchive
) -> None:
    day, _ = await _sealed_day(session_factory, monkeypatch, settings)
    await write_events(session_factory, 2)  # today: not sealed yet
    assert seal_name(day) in await archive.store.names()
    report = await _verify(session_factory, archive)
    assert report.ok, report.problems
    assert report.seals_checked == 2 and report.rows_checked == 9


async def test_deleting_the_last_rows_and_rewinding_the_head_is_detected(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, archive: SealArchive,
    attacker: asyncpg.Connection,
) -> None:
    day, ids = await _sealed_day(session_factory, monkeypatch, settings)
    await attacker.execute("DELETE FROM audit_events WHERE id = ANY($1::bigint[])", ids[3:])
    await _rewind_head(attacker, ids[2])
    report = await _verify(session_factory, archive)
    assert [p for p in report.problems if p.partition == PART and p.day is None] == []  # the chains hold
    assert _first_seal_problem(report) == (ProblemKind.SEAL_MISMATCH, PART, day)
    assert "3 rows now, 5 in the exported signed seal" in report.first.detail  # type: ignore[union-attr]


async def test_editing_a_row_and_recomputing_the_hashes_is_detected(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, archive: SealArchive,
    attacker: asyncpg.Connection,
) -> None:
    day, ids = await _sealed_day(session_factory, monkeypatch, settings)
    await attacker.execute("UPDATE audit_events SET after = '{\"n\": 0}' WHERE id = $1", ids[2])
    await rehash(attacker, PART, 3)
    report = await _verify(session_factory, archive)
    assert _first_seal_problem(report) == (ProblemKind.SEAL_MISMATCH, PART, day)
    assert report.first is not None and report.first.seq == 1


@pytest.mark.parametrize("attack", ["delete_and_rewind", "edit_and_rehash"])
async def test_either_attack_then_resealing_the_day_in_the_database_is_detected(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, archive: SealArchive,
    attacker: asyncpg.Connection, attack: str,
) -> None:
    day, ids = await _sealed_day(session_factory, monkeypatch, settings)
    if attack == "delete_and_rewind":
        await attacker.execute("DELETE FROM audit_events WHERE id = ANY($1::bigint[])", ids[3:])
        await _rewind_head(attacker, ids[2])
    else:
        await attacker.execute("UPDATE audit_events SET reason = 'approved by nobody' WHERE id = $1", ids[1])
        await rehash(attacker, PART, 2)
    await _reseal(attacker, session_factory, day)
    # The database alone is now consistent: chains, heads and its own seals all agree.
    assert (await _verify(session_factory)).ok
    # The seal exported and signed before the attack is not.
    report = await _verify(session_factory, archive)
    assert _first_seal_problem(report) == (ProblemKind.SEAL_MISMATCH, PART, day)
    # Another run of the seal job does not launder the forgery: the exported seal is never replaced.
    await seal_audit_days({"session_factory": session_factory, "settings": settings})
    assert _first_seal_problem(await _verify(session_factory, archive)) == (ProblemKind.SEAL_MISMATCH, PART, day)


async def test_the_cli_and_the_query_use_the_exported_seals(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, attacker: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from domain.audit.verify import verify_cli, verify_configured

    day, ids = await _sealed_day(session_factory, monkeypatch, settings)
    assert settings.database_url
    assert await verify_cli(settings.database_url, settings) == 0
    await attacker.execute("DELETE FROM audit_events WHERE id = $1", ids[4])
    await _rewind_head(attacker, ids[3])
    await _reseal(attacker, session_factory, day)
    assert await verify_cli(settings.database_url, settings) == 1
    out = capsys.readouterr().out
    assert "seal_mismatch" in out and f"day {day}" in out
    async with session_factory() as session:  # what the auditVerify query runs
        report = await verify_configured(session, settings)
    assert _first_seal_problem(report) == (ProblemKind.SEAL_MISMATCH, PART, day)


async def test_a_forged_or_removed_exported_seal_is_detected(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings, archive: SealArchive,
) -> None:
    await _sealed_day(session_factory, monkeypatch, settings, days_ago=3)
    assert settings.audit_seal_export
    folder = Path(settings.audit_seal_export)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 3
    # Rewriting a seal without the key: the signature no longer holds.
    doc = orjson.loads((folder / names[1]).read_bytes())
    doc["seal"]["row_count"] += 1
    (folder / names[1]).write_bytes(orjson.dumps(doc))
    first = (await _verify(session_factory, archive)).first
    assert first is not None and first.kind is ProblemKind.SEAL_SIGNATURE
    # Removing one: the next no longer links to its predecessor.
    (folder / names[1]).unlink()
    first = (await _verify(session_factory, archive)).first
    assert first is not None and (first.kind, first.day) == (ProblemKind.SEAL_CHAIN, date.fromisoformat(names[2][11:21]))
    # Removing the first: the earliest left claims a predecessor.
    (folder / names[0]).unlink()
    first = (await _verify(session_factory, archive)).first
    assert first is not None and (first.kind, first.day) == (ProblemKind.SEAL_CHAIN, date.fromisoformat(names[2][11:21]))


async def test_a_database_seal_never_exported_is_reported(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, archive: SealArchive,
) -> None:
    at = datetime.now(UTC).replace(hour=12) - timedelta(days=1)
    monkeypatch.setattr(service, "clock", lambda: at)
    await write_events(session_factory, 2)
    monkeypatch.undo()
    async with session_factory() as session, session.begin():
        await seal_due_days(session)  # sealed, but the export step never ran
    first = (await _verify(session_factory, archive)).first
    assert first is not None and (first.kind, first.day) == (ProblemKind.SEAL_NOT_EXPORTED, at.date())


async def test_a_day_whose_rows_no_longer_match_its_seal_is_never_signed(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, archive: SealArchive, attacker: asyncpg.Connection,
) -> None:
    at = datetime.now(UTC).replace(hour=12) - timedelta(days=1)
    monkeypatch.setattr(service, "clock", lambda: at)
    ids = await write_events(session_factory, 2)
    monkeypatch.undo()
    async with session_factory() as session, session.begin():
        await seal_due_days(session)
    await attacker.execute("DELETE FROM audit_events WHERE id = $1", ids[1])  # before the export ran
    with pytest.raises(SealNotExportable):
        async with session_factory() as session:
            await export_seals(session, archive)
    assert await archive.store.names() == []


async def test_the_seal_key_is_made_per_data_folder_in_development_and_required_in_production(
    tmp_path: Path,
) -> None:
    dev = Settings(data_dir=tmp_path / "data")
    key = load_seal_key(dev)
    assert (tmp_path / "data" / "audit-seal-key.pem").stat().st_mode & 0o077 == 0
    assert load_seal_key(dev).key_id == key.key_id  # kept, not regenerated
    assert load_seal_key(Settings(data_dir=tmp_path / "other")).key_id != key.key_id
    assert isinstance(seal_archive(dev).store, DirectorySealStore)
    prod = Settings(mode=Mode.PRODUCTION, data_dir=tmp_path / "data")
    with pytest.raises(ConfigurationError, match="FOREXCRM_AUDIT_SEAL_KEY_FILE"):
        load_seal_key(prod)
    with pytest.raises(ConfigurationError, match="FOREXCRM_AUDIT_SEAL_EXPORT"):
        cron_jobs(prod.model_copy(update={"audit_seal_key_file": tmp_path / "data" / "audit-seal-key.pem"}))
    # A verifier holds only the public key: it verifies, it cannot sign.
    from domain.audit.export import public_key_hex

    verifier = load_seal_key(prod.model_copy(update={"audit_seal_public_key": public_key_hex(key)}))
    assert verifier.private is None and verifier.key_id == key.key_id
    assert verifier.verifies(key.sign(b"seal"), b"seal")
    with pytest.raises(ConfigurationError):
        verifier.sign(b"seal")
