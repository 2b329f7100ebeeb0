"""The real `forexcrm worker` command in its own process, configured only through the environment as an
operator would configure it: started, awaited until its stats writer reports (the relay and arq are up),
stopped with SIGTERM. Shared by the seam tests that drive background jobs end to end."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from arq.connections import ArqRedis, RedisSettings, create_pool

from domain.shared.settings import Settings
from jobs.stats import running_key
from tests.conftest import ROOT


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    arq: ArqRedis

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREXCRM_")}
    assert settings.database_url and settings.redis_url
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               FOREXCRM_QUEUE_NAME=settings.queue_name, FOREXCRM_CHANNEL_PREFIX=settings.channel_prefix,
               FOREXCRM_LOG_LEVEL="INFO", FOREXCRM_LOG_JSON="true", FOREXCRM_JOB_STATS_INTERVAL_S="0.2",
               FOREXCRM_HEARTBEAT_INTERVAL_S="5", **extra)
    return env


@asynccontextmanager
async def running_worker(settings: Settings, log_path: Path, **env: str) -> AsyncIterator[WorkerProcess]:
    assert settings.redis_url
    arq = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name)
    await arq.delete(settings.queue_name, running_key(settings.queue_name))
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "api", "worker"], cwd=ROOT, stdout=log_file,
                                stderr=subprocess.STDOUT, env=worker_env(settings, **env))
    running = WorkerProcess(proc, log_path, arq)
    try:
        # Ready when its stats writer (started with the relay, on worker start-up) has reported.
        deadline = time.monotonic() + 60
        while not await arq.hlen(running_key(settings.queue_name)):  # type: ignore[misc]
            assert proc.poll() is None, running.log_text()
            assert time.monotonic() < deadline, "worker never started:\n" + running.log_text()
            await asyncio.sleep(0.1)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        await arq.delete(settings.queue_name)
        await arq.aclose()
