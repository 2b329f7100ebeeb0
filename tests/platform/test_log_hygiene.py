"""No secret or personal link in any log line; expected errors log one line; every line is bounded;
production refuses to start without a way to send mail."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from domain.shared.settings import Settings
from infra.logging import configure_logging
from jobs.notifications import deliver_email
from tests.conftest import ROOT, free_port

LIMIT = 500


class Captured:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.stream = io.StringIO()
        self.caplog = caplog

    def text(self) -> str:
        """Everything logged: our structlog lines, and stdlib records as handlers receive them."""
        return self.stream.getvalue() + "\n".join(r.getMessage() + "\n" + (r.exc_text or "")
                                                   for r in self.caplog.records)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Captured]:
    """Our logging configuration as `forexcrm api`/`worker` install it, with structlog's lines written
    into a buffer (not cached, so the next test's configuration applies to them too)."""
    captured = Captured(caplog)
    configure_logging("INFO", json=True, field_max_chars=LIMIT)
    structlog.configure(cache_logger_on_first_use=False, logger_factory=structlog.PrintLoggerFactory(captured.stream))
    caplog.set_level(logging.INFO)
    yield captured
    structlog.reset_defaults()


async def test_development_log_sink_says_an_email_went_but_not_its_link(logs: Captured, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    body = f"Use this link within 30 minutes:\nhttp://127.0.0.1:8000/reset-password?token={token}\n"

    await deliver_email(Settings(smtp_url=None, data_dir=tmp_path), to="anna.weber@example.com",
                        subject="Reset your password", body=body)

    out = logs.text()
    assert token not in out and "anna.weber" not in out
    [line] = [json.loads(x) for x in out.splitlines() if "email.log_sink" in x]
    assert line["to"] == "a***@example.com" and line["subject"] == "Reset your password"
    # The developer's copy is a file of their own, not a log line.
    [eml] = (tmp_path / "mail").glob("*.eml")
    assert line["file"] == str(eml) and eml.stat().st_mode & 0o077 == 0
    assert token in eml.read_text()


async def test_mail_disabled_drops_the_email_with_one_line_and_no_content(logs: Captured) -> None:
    token = secrets.token_urlsafe(24)
    await deliver_email(Settings(smtp_url=None, mail_disabled=True), to="bob@example.com", subject="Verify",
                        body=f"http://x/verify-email?token={token}")
    out = logs.text()
    assert token not in out
    [line] = [json.loads(x) for x in out.splitlines() if "email.dropped" in x]
    assert line["to"] == "b***@example.com"


def test_secrets_in_fields_urls_and_credentials_are_redacted(logs: Captured) -> None:
    log = structlog.get_logger("hygiene")
    log.info("probe", url="http://h/verify-email?token=SECRET-ONE&lang=de", password="SECRET-TWO",
             header="Bearer SECRETTHREE.abc.def", dsn="redis://user:SECRET-FOUR@r:6379/0", api_key="SECRET-FIVE")
    logging.getLogger("some.library").warning("calling %s", "http://127.0.0.1:18501/api/auth/answer?srv_rand_answer=SECRET-SIX")

    out = logs.text()
    for n in ("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX"):
        assert f"SECRET-{n}" not in out and f"SECRET{n}" not in out, n
    assert "verify-email?token=[redacted]&lang=[redacted]" in out  # names stay readable


def test_every_field_and_traceback_is_bounded(logs: Captured) -> None:
    structlog.get_logger("hygiene").info("big", blob="x" * 100_000)
    try:
        raise ValueError("y" * 100_000)
    except ValueError:
        logging.getLogger("some.library").exception("z" * 100_000)

    out = logs.text()
    assert len(out) < 12 * LIMIT
    assert "more chars]" in out


async def test_access_log_urls_carry_no_credentials(logs: Captured) -> None:
    """uvicorn's access log (an operator may turn it on) and httpx's request log, for real."""

    async def echo(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/api/auth/start", echo)]), host="127.0.0.1",
                                           port=port, log_config=None, access_log=True, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.INFO)
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/api/auth/start",
                                 params={"login": "1000", "password": "SIM-MANAGER-PASS", "agent": "crm"})
            assert r.status_code == 200
    finally:
        server.should_exit = True
        await task
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)

    out = logs.text()
    assert "/api/auth/start?login=[redacted]" in out  # the access line is there
    assert "SIM-MANAGER-PASS" not in out


async def test_expected_errors_log_one_line_without_a_traceback(logs: Captured, http: httpx.AsyncClient) -> None:
    requests = [
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),  # a validation error: 33 bytes of request
        ("{ me { id } mySessions { nodes { id } } }", "UNAUTHENTICATED"),  # an authorisation refusal
    ]
    for query, code in requests:
        body = (await http.post("/graphql", json={"query": query})).json()
        assert any(e["extensions"]["code"] == code for e in body["errors"]), body

    out = logs.text()
    assert "Traceback" not in out
    lines = [json.loads(x) for x in out.splitlines() if '"graphql.error"' in x]
    assert [line["code"] for line in lines] == ["GRAPHQL_VALIDATION_FAILED", "UNAUTHENTICATED"]
    assert all(len(json.dumps(line)) < 600 for line in lines)
    assert not [r for r in logs.caplog.records if r.name.startswith("strawberry")]


@pytest.mark.parametrize("command", ["api", "worker"])
def test_production_refuses_to_start_without_mail(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREXCRM_")}
    env.update(FOREXCRM_MODE="production", FOREXCRM_SECRET_KEY=secrets.token_urlsafe(48),
               DATABASE_URL="postgresql://x@127.0.0.1:1/x", REDIS_URL="redis://127.0.0.1:1")
    result = subprocess.run([sys.executable, "-m", "api", command], env=env, cwd=ROOT, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "FOREXCRM_SMTP_URL" in result.stderr.decode() and "FOREXCRM_MAIL_DISABLED" in result.stderr.decode()
