"""The providers' stand-ins as `forexcrm run` starts them: processes on their ports, secrets through
the environment, the API's side handed over as settings, a clean stop."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from pathlib import Path

import httpx
import pytest

from domain.platforms import registry
from domain.platforms.errors import PlatformAuthFailed
from domain.shared.settings import Settings
from sandbox.launcher import STAND_INS, start_stand_ins, stop_processes
from sandbox.serving import free_ports


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def _push_once(settings: Settings) -> dict[str, str]:
    import time
    import uuid

    from domain.notifications.push.port import PushMessage
    from domain.notifications.push.providers import configured

    out = {}
    for name, port in configured(settings).items():
        try:
            result = await port.send(PushMessage(token="ab" * 32, title="t", body="b", message_id=str(uuid.uuid4()),
                                                 expires_at=int(time.time()) + 60))
            out[name] = result.outcome.value
        finally:
            await port.aclose()
    return out


def test_stand_ins_start_hand_their_settings_to_the_api_and_stop(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    base = free_ports(len(STAND_INS))
    environ = {"PATH": "/usr/bin:/bin", "FOREXCRM_KYC_LEVEL_NAME": "x",
               "FOREXCRM_PSP_COINSPAID_API_KEY": "configured-by-the-operator"}
    started = start_stand_ins(tmp_path, "http://127.0.0.1:8999", base, environ=environ)
    try:
        assert {p.name for p in started.processes} == {s.name for s in STAND_INS}
        for proc in started.processes:
            assert proc.poll() is None and _accepts(proc.port)
        env = started.api_env
        # The API's settings: where each stand-in listens, and the secrets the stand-ins also hold.
        monkeypatch.setenv("FOREXCRM_SANDBOX_URLS", env["FOREXCRM_SANDBOX_URLS"])
        assert Settings().sandbox_urls == started.urls
        assert env["FOREXCRM_KYC_BASE_URL"] == started.urls["kyc"]
        stored = json.loads((tmp_path / "sandbox" / "secrets.json").read_text())
        secrets = [v for mine in stored.values() for v in mine.values()]
        for proc in started.processes:  # secrets never on a command line
            assert not any(v in " ".join(map(str, proc.args)) for v in secrets)  # type: ignore[arg-type]
        assert stat.S_IMODE((tmp_path / "sandbox" / "secrets.json").stat().st_mode) == 0o600
        assert env["FOREXCRM_KYC_APP_TOKEN"] == stored["kyc"]["app_token"]
        assert env["FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS"] == stored["stripe"]["webhook_secret"]
        assert env["FOREXCRM_PSP_PRAXIS_MERCHANT_ID"] == stored["praxis"]["merchant_id"]
        assert env["FOREXCRM_FX_ECB_URL"].startswith(started.urls["fx"])
        # A provider the operator configured is left alone.
        assert "FOREXCRM_PSP_COINSPAID_API_KEY" not in env
        # The Stripe stand-in holds the same API key: it answers a call made with it, refuses others.
        url = started.urls["stripe"] + "/v1/checkout/sessions"
        form = {"mode": "payment", "success_url": "http://127.0.0.1:8999/done", "line_items[0][quantity]": "1",
                "line_items[0][price_data][currency]": "usd", "line_items[0][price_data][unit_amount]": "1000"}
        ok = httpx.post(url, data=form, headers={"authorization": f"Bearer {stored['stripe']['api_key']}"})
        assert ok.status_code == 200 and ok.json()["url"].startswith(started.urls["stripe"])
        assert httpx.post(url, data=form, headers={"authorization": "Bearer wrong"}).status_code == 401
        # The ECB stand-in answers the daily reference-rate XML where the API is told to look.
        assert b"eurofxref" in httpx.get(env["FOREXCRM_FX_ECB_URL"]).content
        # The MT4 sidecar answers requests signed with its secret, the password of an "mt4" trading server.
        mt4 = registry.platform_kind("mt4")
        sidecar = registry.Connection(started.urls["mt4_sidecar"], 1000, stored["mt4_sidecar"]["secret"])
        asyncio.run(mt4.verify(sidecar, timeout_s=5))
        with pytest.raises(PlatformAuthFailed):
            asyncio.run(mt4.verify(registry.Connection(sidecar.base_url, 1000, "wrong"), timeout_s=5))
        # FCM and APNs: the adapters built from the handed settings push through the stand-ins (signed requests).
        for key, value in env.items():
            if key.startswith("FOREXCRM_PUSH_"):
                monkeypatch.setenv(key, value)
        assert asyncio.run(_push_once(Settings())) == {"fcm": "sent", "apns": "sent"}
    finally:
        stop_processes(started.processes)
    assert all(p.returncode is not None for p in started.processes)
    assert not any(_accepts(p.port) for p in started.processes)
    assert {f.name for f in (tmp_path / "logs").iterdir()} == {f"{s.name}.log" for s in STAND_INS}

    # The secrets are kept: a second start hands over the same ones.
    again = start_stand_ins(tmp_path, "http://127.0.0.1:8999", free_ports(len(STAND_INS)), environ=environ)
    try:
        assert again.api_env["FOREXCRM_KYC_APP_TOKEN"] == env["FOREXCRM_KYC_APP_TOKEN"]
    finally:
        stop_processes(again.processes)


def test_a_stand_in_that_cannot_start_is_named_and_the_others_stopped(tmp_path: Path) -> None:
    base = free_ports(len(STAND_INS))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))  # the kyc stand-in's port
        taken.listen()
        with pytest.raises(RuntimeError, match="kyc"):
            started = start_stand_ins(tmp_path, "http://127.0.0.1:8999", base, environ={"PATH": "/usr/bin:/bin"},
                                      timeout_s=10)
            stop_processes(started.processes)  # reached only if it wrongly started: leave nothing running
    assert not any(_accepts(base + s.port_offset) for s in STAND_INS if s.name != "kyc")
