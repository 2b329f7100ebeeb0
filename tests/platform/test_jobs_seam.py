"""The background-job seam for real: API (live server) -> outbox -> the `forexcrm worker` process
(its relay, arq on the real Redis queue) -> a real SMTP server on loopback -> the inbox.

The worker is the real command in its own process, configured only through the environment as an
operator would configure it; it lives for this module only (its relay marks events published, which
other modules' snapshot tests must not see).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from domain.shared.settings import Settings
from jobs.stats import read_queue_stats, running_key
from tests.clients.flow import REGISTER, VERIFY
from tests.conftest import ROOT, GraphQLClient, unique
from tests.identity.helpers import PASSWORD
from tests.smtp import Inbox, smtp_server

TOKEN_RE = re.compile(r"token=([A-Za-z0-9_\-]+)")


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log_path: Path
    inbox: Inbox
    arq: ArqRedis

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREXCRM_")}
    assert settings.database_url and settings.redis_url
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               FOREXCRM_QUEUE_NAME=settings.queue_name, FOREXCRM_CHANNEL_PREFIX=settings.channel_prefix,
               FOREXCRM_LOG_LEVEL="INFO", FOREXCRM_LOG_JSON="true", FOREXCRM_JOB_STATS_INTERVAL_S="0.2",
               FOREXCRM_HEARTBEAT_INTERVAL_S="5", **extra)
    return env


@pytest.fixture(scope="module")
async def worker(settings: Settings, smtp: tuple[Inbox, int], tmp_path_factory: Any) -> AsyncIterator[Worker]:
    inbox, port = smtp
    assert settings.redis_url
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    arq = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name)
    await arq.delete(settings.queue_name, running_key(settings.queue_name))
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api", "worker"], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            env=worker_env(settings, FOREXCRM_SMTP_URL=f"smtp://127.0.0.1:{port}",
                           FOREXCRM_MAIL_FROM="crm@broker.example"))
    running = Worker(proc, log_path, inbox, arq)
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


async def _mail_to(inbox: Inbox, address: str, *, count: int = 1, within_s: float = 10.0) -> str:
    """The body of the `count`-th email to `address`, waiting at most `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while len(inbox.to(address)) < count:
        assert time.monotonic() < deadline, f"no email to {address} within {within_s}s"
        await asyncio.sleep(0.05)
    message = inbox.to(address)[count - 1]
    return message.get_payload(decode=True).decode()  # type: ignore[union-attr]


async def test_registration_sends_the_verification_email_through_the_worker(
    worker: Worker, http: httpx.AsyncClient
) -> None:
    email = f"{unique('seam')}@example.com"
    registered = await GraphQLClient(http)(REGISTER, {"i": {"email": email, "password": PASSWORD, "displayName": "S"}})
    payload = registered["data"]["registerClient"]
    assert payload["errors"] == [], payload
    started = time.monotonic()

    body = await _mail_to(worker.inbox, email, within_s=10)

    assert time.monotonic() - started < 10
    [message] = worker.inbox.to(email)
    assert message["From"] == "crm@broker.example"
    match = TOKEN_RE.search(body)
    assert match, body
    client = GraphQLClient(http, payload["accessToken"])
    verified = await client(VERIFY, {"t": match.group(1)})
    assert verified["data"]["verifyClientEmail"] == {"client": {"status": "EMAIL_VERIFIED"}, "errors": []}
    # The job's arguments carry the link and the address: the worker's log (INFO, arq's job lines
    # included) names the job, never them.
    await asyncio.sleep(0.3)
    log = worker.log_text()
    assert "send_email" in log
    assert match.group(1) not in log and email not in log


async def test_password_reset_email_arrives_and_its_link_works(worker: Worker, http: httpx.AsyncClient) -> None:
    email = f"{unique('reset')}@example.com"
    gql = GraphQLClient(http)
    registered = await gql(REGISTER, {"i": {"email": email, "password": PASSWORD, "displayName": "R"}})
    assert registered["data"]["registerClient"]["errors"] == []
    await _mail_to(worker.inbox, email)  # the verification email first

    asked = await gql("mutation($e: String!) { requestPasswordReset(email: $e) { ok errors { code } } }", {"e": email})
    assert asked["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
    body = await _mail_to(worker.inbox, email, count=2, within_s=10)

    assert "reset-password" in body
    match = TOKEN_RE.search(body)
    assert match, body
    reset = await gql("mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { ok errors { code } } }",
                      {"t": match.group(1), "p": PASSWORD + "-new"})
    assert reset["data"]["resetPassword"] == {"ok": True, "errors": []}
    await asyncio.sleep(0.3)
    assert match.group(1) not in worker.log_text() and email not in worker.log_text()


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} missing from /metrics"
    return float(match.group(1))


async def test_metrics_report_the_workers_queue(worker: Worker, http: httpx.AsyncClient, settings: Settings) -> None:
    before = (await http.get("/metrics")).text
    failed_before = _metric(before, "forexcrm_jobs_finished_total", '{outcome="failed"}')
    complete_before = _metric(before, "forexcrm_jobs_finished_total", '{outcome="complete"}')

    # A job no worker knows fails; one deferred by an hour waits in the queue.
    await worker.arq.enqueue_job("no_such_job", _job_id=unique("seam-unknown"))
    await worker.arq.enqueue_job("heartbeat", _job_id=unique("seam-later"), _defer_by=3600)
    deadline = time.monotonic() + 10
    while True:
        text = (await http.get("/metrics")).text
        if _metric(text, "forexcrm_jobs_finished_total", '{outcome="failed"}') >= failed_before + 1:
            break
        assert time.monotonic() < deadline, text
        await asyncio.sleep(0.2)

    assert _metric(text, "forexcrm_jobs_deferred") >= 1
    assert _metric(text, "forexcrm_jobs_queued") >= 0
    assert _metric(text, "forexcrm_jobs_running") >= 0
    assert _metric(text, "forexcrm_jobs_finished_total", '{outcome="retried"}') >= 0
    assert _metric(text, "forexcrm_jobs_finished_total", '{outcome="complete"}') >= max(complete_before, 1)
    stats = await read_queue_stats(worker.arq, settings.queue_name)
    assert stats.deferred >= 1 and stats.failed >= 1
