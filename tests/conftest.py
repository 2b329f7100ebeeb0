"""Test fixtures against real PostgreSQL and Redis.

The configured DATABASE_URL / REDIS_URL are used when set (CI uses the machine's services),
otherwise the embedded servers under .data/test. Each xdist worker gets its own database,
migrated from scratch, and its own Redis database number, so workers never see each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import uvicorn

from api.dbroles import RUNTIME_ROLE, ensure_login_role, with_role
from api.embedded import EmbeddedServices
from api.migrate import upgrade
from domain.shared.db import asyncpg_dsn, normalise_database_url
from domain.shared.settings import Settings
from sandbox.serving import free_port as free_port  # the tests import it from here
from tests import declared_errors

ROOT = Path(__file__).resolve().parent.parent

declared_errors.install()
# Every document the suite runs goes through the plain-field fast path and the generic executor,
# which must agree (schema/plain_fields.py); the APIs the tests start in subprocesses inherit it.
os.environ.setdefault("FOREXCRM_EXECUTOR_CHECK", "true")


@pytest.fixture(autouse=True)
def _mutations_return_only_declared_errors() -> Iterator[None]:
    """A mutation that returns an error code its schema description does not declare fails the test
    (tests/declared_errors.py): generated clients switch on the declared codes."""
    start = len(declared_errors.VIOLATIONS)
    yield
    seen = declared_errors.VIOLATIONS[start:]
    del declared_errors.VIOLATIONS[start:]
    assert not seen, "UNDECLARED: " + "; ".join(sorted(set(seen)))
# The runtime role is server-wide and shared by concurrent runs; a password only matters where the
# server does not trust local connections.
RUNTIME_TEST_PASSWORD = "forexcrm-runtime-test"


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _redis_with_db(url: str, db: int) -> str:
    if url.startswith("unix://"):
        base = url.split("?", 1)[0]
        return f"{base}?db={db}"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


@dataclass(frozen=True)
class TestServices:
    database_url: str  # the runtime role's, as the API and workers connect
    redis_url: str
    admin_url: str  # a superuser's, on the server's maintenance database
    owner_url: str = ""  # the owner's (here a superuser's), on this database: migrations, attackers


@pytest.fixture(scope="session")
def base_urls() -> Iterator[tuple[str, str]]:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    embedded: EmbeddedServices | None = None
    if not database_url or not redis_url:
        embedded = EmbeddedServices(ROOT / ".data" / "test")
        urls = embedded.start(database_url or None, redis_url or None)
        database_url, redis_url = urls.migration_url or urls.database_url, urls.redis_url
    try:
        yield normalise_database_url(database_url), redis_url
    finally:
        if embedded is not None:
            embedded.stop()


@pytest.fixture(scope="session")
def services(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[TestServices]:
    yield from fresh_database(base_urls, testrun_uid)


def fresh_database(base_urls: tuple[str, str], testrun_uid: str, suite: str = "") -> Iterator[TestServices]:
    """A freshly migrated database of its own (per run, worker and optional suite), dropped afterwards.

    A suite that rewrites shared tables wholesale (the audit tamper tests) gets its own `suite` database
    so it never disturbs what other suites on the same worker have written.
    """
    admin_url, base_redis = base_urls
    worker = _worker_index()
    # Unique per run and worker: concurrent runs on one server never touch each other's database.
    name = f"forexcrm_test_{testrun_uid[:10]}_{worker}{'_' + suite if suite else ''}"

    async def recreate() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await ensure_login_role(conn, RUNTIME_ROLE, RUNTIME_TEST_PASSWORD)
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    # Migrations as the owner; everything else as the runtime role, as deployed (api/dbroles.py).
    owner_url = _with_database(admin_url, name)
    database_url = with_role(owner_url, RUNTIME_ROLE, RUNTIME_TEST_PASSWORD)
    upgrade(owner_url, database_url)
    from api.bootstrap import seed

    asyncio.run(seed(Settings(), owner_url))
    redis_url = _redis_with_db(base_redis, 1 + worker % 15)
    yield TestServices(database_url=database_url, redis_url=redis_url, admin_url=admin_url, owner_url=owner_url)

    async def drop() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    with contextlib.suppress(Exception):
        asyncio.run(drop())


@pytest.fixture(scope="session")
def settings(services: TestServices, testrun_uid: str) -> Settings:
    return suite_settings(services, testrun_uid)


def suite_settings(services: TestServices, testrun_uid: str) -> Settings:
    run = f"{testrun_uid[:10]}-{_worker_index()}"
    return Settings(
        database_url=services.database_url,
        redis_url=services.redis_url,
        channel_prefix=f"forexcrm-test-{run}:events:",
        queue_name=f"forexcrm-test-{run}:queue",
        redis_namespace=f"forexcrm-test-{run}",
        log_json=False,
        log_level="WARNING",
        heartbeat_interval_s=1,
        # Cheap Argon2 in tests (the bench measures the configured cost); same code path.
        argon2_time_cost=1,
        argon2_memory_kib=8192,
        argon2_parallelism=1,
        # Every test signs in from 127.0.0.1; the per-IP limit has its own test.
        login_attempts_per_ip=100_000,
        # Audit seals are signed with a key of this run's and exported to a folder of its own.
        audit_seal_key_file=run_folder(run) / "audit-seal-key.pem",
        audit_seal_export=str(run_folder(run) / "audit-seals"),
    )


def run_folder(run: str) -> Path:
    """A folder for this run and worker only (concurrent runs share the machine's temp folder)."""
    return Path(tempfile.gettempdir()) / f"forexcrm-test-{run}"


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Any]:
    async for rt in suite_runtime(settings):
        yield rt


async def suite_runtime(settings: Settings) -> AsyncIterator[Any]:
    from infra.runtime import open_runtime

    assert settings.database_url and settings.redis_url
    rt = await open_runtime(settings, settings.database_url, settings.redis_url)
    yield rt
    await rt.close()


@pytest.fixture
def session_factory(runtime: Any) -> Any:
    return runtime.services.session_factory


@pytest.fixture
async def db(session_factory: Any) -> AsyncIterator[Any]:
    async with session_factory() as session:
        yield session


@dataclass
class LiveServer:
    base_url: str
    settings: Settings

    @property
    def graphql_url(self) -> str:
        return self.base_url + "/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveServer]:
    """The real app under uvicorn on a loopback port, in this event loop."""
    from api.app import create_app
    from api.http_protocol import uvicorn_options

    assert settings.database_url and settings.redis_url
    port = free_port()
    app = create_app(settings, settings.database_url, settings.redis_url)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options(settings))  # as `forexcrm api` serves
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(settings) as live:
        yield live


@pytest.fixture
async def relay(runtime: Any, settings: Settings) -> AsyncIterator[Any]:
    """The outbox relay running in the test loop, as the worker runs it (only during the test that asks
    for it: tests that compare table snapshots must not see it mark events published meanwhile)."""
    from arq.connections import RedisSettings, create_pool

    from jobs.relay import OutboxRelay

    assert settings.database_url and settings.redis_url
    # A real arq pool, as the worker builds it: jobs land on the test run's queue (no worker reads it
    # here; the seam tests in tests/platform/test_jobs_seam.py run one). The queue is dropped after.
    arq = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name)
    r = OutboxRelay(runtime.services.session_factory, runtime.services.redis, arq, settings.database_url,
                    settings.channel_prefix, queue_name=settings.queue_name, poll_s=0.1)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
        await arq.delete(settings.queue_name)
        await arq.aclose()


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=10) as client:
        yield client


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}, **extra}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
