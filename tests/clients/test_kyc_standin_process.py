"""The Sumsub and CoinsPaid stand-ins as `forexcrm run` starts them: separate processes, secrets in the
environment, ready once their port accepts connections. A client verifies through the Sumsub one
with GraphQL and the stand-in's public WebSDK endpoint only."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from domain.payments.coinspaid import signature
from sandbox.kyc import free_port
from tests.clients.flow import to_profile
from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[2]
START = "mutation { startKycVerification { verification { provider accessToken } errors { code } } }"


def _ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the stand-in exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the stand-in did not start")


def _started(module: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env={**os.environ, **env})
    try:
        _ready(port, proc)
    except BaseException:
        proc.terminate()
        raise
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture
def sumsub_process(live_server: LiveServer, brokerage: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    keys = {"SUMSUB_APP_TOKEN": "sbx:" + secrets.token_hex(8), "SUMSUB_SECRET_KEY": secrets.token_hex(16),
            "SUMSUB_WEBHOOK_SECRET": secrets.token_hex(16), "SUMSUB_WEBHOOK_ALG": "HMAC_SHA512_HEX",
            "SUMSUB_WEBHOOK_URL": f"{live_server.base_url}/webhooks/sumsub"}
    proc, base_url = _started("sandbox.kyc", keys)
    monkeypatch.setenv("FOREXCRM_KYC_PROVIDER", "sumsub")
    monkeypatch.setenv("FOREXCRM_KYC_BASE_URL", base_url)
    monkeypatch.setenv("FOREXCRM_KYC_APP_TOKEN", keys["SUMSUB_APP_TOKEN"])
    monkeypatch.setenv("FOREXCRM_KYC_SECRET_KEY", keys["SUMSUB_SECRET_KEY"])
    monkeypatch.setenv("FOREXCRM_KYC_WEBHOOK_SECRETS", keys["SUMSUB_WEBHOOK_SECRET"])
    yield base_url
    proc.terminate()
    proc.wait(10)


async def test_a_client_verifies_through_the_sumsub_process(http: httpx.AsyncClient, session_factory: Any,
                                                            sumsub_process: str) -> None:
    client, _, _ = await to_profile(http, session_factory)
    started = (await client(START))["data"]["startKycVerification"]
    assert started["errors"] == [] and started["verification"]["provider"] == "sumsub"

    async with httpx.AsyncClient(timeout=20) as public:
        finished = await public.post(f"{sumsub_process}/websdk/submit",
                                     json={"accessToken": started["verification"]["accessToken"]})

    assert finished.status_code == 200 and finished.json()["webhooks"] == [200, 200], finished.text
    assert (await client("{ myClient { status } }"))["data"]["myClient"]["status"] == "UNDER_REVIEW"


async def test_the_coinspaid_process_answers_signed_requests_only() -> None:
    key, secret = secrets.token_hex(8), secrets.token_hex(16)
    proc, base_url = await asyncio.to_thread(_started, "sandbox.coinspaid", {
        "COINSPAID_API_KEY": key, "COINSPAID_SECRET_KEY": secret,
        "COINSPAID_CALLBACK_URL": "http://127.0.0.1:9/webhooks/coinspaid"})
    try:
        body = orjson.dumps({"currency": "BTC", "foreign_id": "client-1:BTC", "end_user_reference": "client-1"})
        async with httpx.AsyncClient(timeout=20) as http:
            signed = await http.post(f"{base_url}/api/v2/addresses/take", content=body, headers={
                "X-Processing-Key": key, "X-Processing-Signature": signature(secret, body)})
            forged = await http.post(f"{base_url}/api/v2/addresses/take", content=body, headers={
                "X-Processing-Key": key, "X-Processing-Signature": signature("guess", body)})
            sent = await http.post(f"{base_url}/sandbox/deposits",
                                   json={"address": signed.json()["data"]["address"], "amount": "0.1"})
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)

    assert signed.status_code == 201 and signed.json()["data"]["address"].startswith("bc1q")
    assert forged.status_code == 401
    assert sent.status_code == 200 and sent.json()["callback"] is None  # nobody listens on port 9
