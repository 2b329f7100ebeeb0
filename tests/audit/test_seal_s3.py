"""Seals exported to an S3-compatible bucket: a real S3 server (moto's, over HTTP on loopback)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from domain.audit import service
from domain.audit.chain import partition_for
from domain.audit.export import S3SealStore, seal_archive, seal_name
from domain.audit.verify import ProblemKind, verify
from domain.shared.settings import Settings
from jobs.audit import seal_audit_days
from tests.audit.conftest import rehash, write_events
from tests.audit.test_insider import _reseal
from tests.conftest import free_port, unique

ACCESS, SECRET = "forexcrm-test", secrets.token_hex(16)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
async def s3_settings(settings: Settings, s3_endpoint: str) -> Settings:
    bucket = unique("seals").lower()
    async with get_session().create_client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                                           aws_access_key_id=ACCESS, aws_secret_access_key=SECRET) as s3:
        await s3.create_bucket(Bucket=bucket)
    return settings.model_copy(update={
        "audit_seal_export": f"s3://{bucket}/audit/seals", "audit_seal_s3_endpoint": s3_endpoint,
        "audit_seal_s3_access_key": SecretStr(ACCESS), "audit_seal_s3_secret_key": SecretStr(SECRET)})


async def test_seals_go_to_the_bucket_once_and_catch_a_resealed_edit(
    session_factory: Any, monkeypatch: pytest.MonkeyPatch, s3_settings: Settings, attacker: asyncpg.Connection,
) -> None:
    at = datetime.now(UTC).replace(hour=12) - timedelta(days=1)
    monkeypatch.setattr(service, "clock", lambda: at)
    ids = await write_events(session_factory, 4)
    monkeypatch.undo()
    ctx = {"session_factory": session_factory, "settings": s3_settings}
    assert await seal_audit_days(ctx) == 1
    archive = seal_archive(s3_settings)
    assert isinstance(archive.store, S3SealStore) and archive.store.prefix == "audit/seals"
    assert await archive.store.names() == [seal_name(at.date())]
    stored = await archive.store.get(seal_name(at.date()))
    assert stored is not None and orjson.loads(stored)["seal"]["row_count"] == 4
    # Write-once: a second export of the same name is refused and changes nothing.
    assert await archive.store.put_new(seal_name(at.date()), b"{}") is False
    assert await archive.store.get(seal_name(at.date())) == stored
    async with session_factory() as session:
        assert (await verify(session, archive=archive)).ok

    await attacker.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE id = $1", ids[0])
    await rehash(attacker, partition_for("req-1"), 1)
    await _reseal(attacker, session_factory, at.date())
    await seal_audit_days(ctx)
    async with session_factory() as session:
        report = await verify(session, archive=archive)
    assert report.first is not None
    assert (report.first.kind, report.first.day) == (ProblemKind.SEAL_MISMATCH, at.date())
