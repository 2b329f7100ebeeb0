"""Shared set-up for scenarios: real services (configured or embedded) and a scratch database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from api.embedded import EmbeddedServices
from api.migrate import upgrade
from domain.shared.db import asyncpg_dsn, normalise_database_url
from sandbox.serving import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def bench_services(name: str, *, keep: bool = False) -> AsyncIterator[tuple[str, str]]:
    """(database_url, redis_url) for a freshly migrated database named bench_<name>; with `keep`, an
    existing one is kept (migrated to head) so a scenario whose seeding takes minutes seeds once."""
    embedded: EmbeddedServices | None = None
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not database_url or not redis_url:
        embedded = EmbeddedServices(ROOT / ".data" / "bench")
        urls = embedded.start(database_url or None, redis_url or None)
        database_url, redis_url = urls.database_url, urls.redis_url
    admin = normalise_database_url(database_url)
    # A suffix keeps concurrent runs from several checkouts on one server out of each other's way.
    db_name = f"bench_{name}{os.environ.get('FOREXCRM_BENCH_DB_SUFFIX', '')}"
    conn = await asyncpg.connect(asyncpg_dsn(admin))
    try:
        exists = await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", db_name)
        if not (keep and exists):
            await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{db_name}"')
    finally:
        await conn.close()
    parts = urlsplit(admin)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + db_name, parts.query, parts.fragment))
    await asyncio.to_thread(upgrade, url)
    try:
        yield url, redis_url
    finally:
        if embedded is not None:
            embedded.stop()


@contextlib.asynccontextmanager
async def api_process(database_url: str, redis_url: str, extra_env: dict[str, str] | None = None, *,
                      workers: int = 1, pids: list[int] | None = None) -> AsyncIterator[int]:
    """`forexcrm api` in its own process(es) (as in production), on a free port; `pids` gets the
    process id (with one worker, the process serving requests: for its memory)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "FOREXCRM_LOG_LEVEL": "WARNING",
           "FOREXCRM_BENCH_ANCHOR": "true", **(extra_env or {})}
    command = [sys.executable, "-m", "api", "api", "--port", str(port), "--workers", str(workers)]
    # stderr to a file, not a pipe: nobody reads a pipe while the scenario runs, and once its 64 kB
    # buffer fills the API blocks on its next log line.
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below, with the process)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    if pids is not None:
        pids.append(proc.pid)
    try:
        deadline = time.monotonic() + 180  # two workers start in 35-60 s on a loaded 2-core machine
        async with httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError("API exited: " + errors.read().decode(errors="replace")[-4000:])
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("API did not become ready")
                await _sleep(0.2)
        yield port
    finally:
        stop_process(proc)
        errors.close()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Ask a bench process (API, anchor, simulator) to stop; kill it if it does not within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
