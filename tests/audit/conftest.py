"""Audit fixtures: an empty trail per test, and an attacker with DBA rights (triggers off)."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from domain.audit import service
from domain.audit.chain import EventContent, link_hash
from domain.audit.export import SealArchive, seal_archive
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import asyncpg_dsn
from domain.shared.settings import Settings
from tests.conftest import TestServices, fresh_database, suite_runtime, suite_settings

STAFF = Actor(ActorKind.STAFF, user_id=7, ip="203.0.113.9", user_agent="pytest", correlation_id="req-1")


# The audit suite truncates and tampers with the audit trail: it works in a database of its own.
@pytest.fixture(scope="session")
def services(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[TestServices]:
    yield from fresh_database(base_urls, testrun_uid, suite="audit")


@pytest.fixture(scope="session")
def settings(services: TestServices, testrun_uid: str) -> Settings:
    base = suite_settings(services, testrun_uid)
    assert base.audit_seal_export
    return base.model_copy(update={"audit_seal_export": base.audit_seal_export + "-audit-suite"})


@pytest.fixture
def archive(settings: Settings) -> SealArchive:
    """The exported, signed seals (a folder of this suite's), as verification reads them."""
    return seal_archive(settings)


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Any]:
    async for rt in suite_runtime(settings):
        yield rt


@pytest.fixture
async def attacker(services: TestServices) -> AsyncIterator[asyncpg.Connection]:
    """The owner's (a superuser's) connection with every trigger disabled, as a DBA covering their
    tracks would: the runtime role can do none of this (test_roles.py)."""
    conn = await asyncpg.connect(asyncpg_dsn(services.owner_url), server_settings={"timezone": "UTC"})
    await conn.execute("SET session_replication_role = replica")
    yield conn
    await conn.close()


@pytest.fixture(autouse=True)
async def empty_trail(attacker: asyncpg.Connection, settings: Settings) -> None:
    assert settings.audit_seal_export
    shutil.rmtree(settings.audit_seal_export, ignore_errors=True)
    await attacker.execute(
        "TRUNCATE audit_events, audit_seals; "
        "UPDATE audit_chain_heads SET seq = 0, hash = decode(repeat('00', 32), 'hex')"
    )


async def write_events(session_factory: Any, n: int, *, correlation: str = "req-1", **kw: Any) -> list[int]:
    """n events, each in its own transaction, all in the partition of `correlation`."""
    actor = Actor(ActorKind.STAFF, user_id=7, correlation_id=correlation)
    ids = []
    for i in range(n):
        async with session_factory() as session, session.begin():
            ids.append(await service.record(session, actor, action="thing.changed", entity_type="thing",
                                            entity_id=i, before={"n": i}, after={"n": i + 1}, **kw))
    return ids


def content_of(row: asyncpg.Record, **changes: Any) -> EventContent:
    fields = {k: row[k] for k in EventContent.__dataclass_fields__}
    for side in ("before", "after"):
        if isinstance(fields[side], str):
            fields[side] = json.loads(fields[side])
    fields.update(changes)
    return EventContent(**fields)


async def rehash(conn: asyncpg.Connection, partition: int, from_seq: int) -> None:
    """What an attacker who knows the algorithm does after editing: re-chain the rest and the head."""
    rows = await conn.fetch("SELECT * FROM audit_events WHERE partition = $1 AND seq >= $2 ORDER BY seq",
                            partition, from_seq)
    prev = await conn.fetchval("SELECT hash FROM audit_events WHERE partition = $1 AND seq = $2",
                               partition, from_seq - 1) or bytes(32)
    for row in rows:
        digest = link_hash(prev, content_of(row))
        await conn.execute("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE id = $3", prev, digest, row["id"])
        prev = digest
    await conn.execute("UPDATE audit_chain_heads SET hash = $1, seq = (SELECT max(seq) FROM audit_events "
                       "WHERE partition = $2) WHERE partition = $2", prev, partition)
