"""The background-job seam for real: API (live server) -> outbox -> the `forexcrm worker` process
(its relay, arq on the real Redis queue) -> a real SMTP server on loopback -> the inbox.

The worker is the real command in its own process, configured only through the environment as an
operator would configure it; it lives for this module only (its relay marks events published, which
other modules' snapshot tests must not see).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis

from domain.shared.settings import Settings
from jobs.stats import read_queue_stats
from tests.clients.flow import REGISTER, VERIFY
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD
from tests.smtp import Inbox, smtp_server
from tests.worker_process import WorkerProcess, running_worker

TOKEN_RE = re.compile(r"token=([A-Za-z0-9_\-]+)")


@dataclass
class Worker:
    process: WorkerProcess
    inbox: Inbox

    @property
    def arq(self) -> ArqRedis:
        return self.process.arq

    def log_text(self) -> str:
        return self.process.log_text()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture(scope="module")
async def worker(settings: Settings, smtp: tuple[Inbox, int], tmp_path_factory: Any) -> AsyncIterator[Worker]:
    inbox, port = smtp
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    async with running_worker(settings, log_path, FOREXCRM_SMTP_URL=f"smtp://127.0.0.1:{port}",
                              FOREXCRM_MAIL_FROM="crm@broker.example") as process:
        yield Worker(process, inbox)


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


async def test_a_rebuild_of_a_days_emir_reports_runs_in_the_worker(worker: Worker, http: httpx.AsyncClient,
                                                                   session_factory: Any, settings: Settings) -> None:
    """rebuildEmirReports over HTTP -> outbox -> the worker's relay -> arq -> rebuild_emir_reports: the day's
    file is built by the worker process (and the daily build is one of its crons)."""
    from sqlalchemy import text

    from jobs.regulatory import build_emir_reports
    from jobs.worker import discover
    from tests.identity.staff import make_staff
    from tests.regulatory.world import SETTINGS, at, deal, world

    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    answer = await officer("mutation($i: RegulatorySettingsInput!) { setRegulatorySettings(input: $i) { "
                           "errors { code } } }", {"i": SETTINGS})
    assert answer["data"]["setRegulatorySettings"]["errors"] == []
    w = await world(session_factory)
    await deal(session_factory, w, "ivan", deal_id=71, position_id=71, at=at(w.day, 9), entry=0, action=0,
               volume="1", price="1.1")
    answer = await officer("mutation($d: Date!) { rebuildEmirReports(day: $d, reason: \"seam\") { day "
                           "errors { code } } }", {"d": w.day.isoformat()})
    assert answer["data"]["rebuildEmirReports"]["errors"] == []
    deadline = time.monotonic() + 30
    while True:
        async with session_factory() as s:
            built = (await s.execute(text("SELECT records, reason, status FROM regulatory_report_files "
                                          "WHERE business_date = :d"), {"d": w.day})).all()
        if built:
            break
        assert time.monotonic() < deadline, worker.log_text()[-2000:]
        await asyncio.sleep(0.2)
    assert [(b.records, b.reason, b.status) for b in built] == [(1, "seam", "built")]
    crons = [c for factory in discover()[1] for c in factory(settings)]
    assert any(c.coroutine is build_emir_reports for c in crons)
    from jobs.regulatory import build_mifir_reports
    assert any(c.coroutine is build_mifir_reports for c in crons)
