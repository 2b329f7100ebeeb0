"""Fixtures: a real simulator process on a loopback port, and MT5 adapters talking to it over HTTP."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.platforms import registry
from domain.platforms.mt5 import MT5Credentials, MT5Platform
from domain.platforms.port import BalanceOpKind, NewAccount, TradingPlatform
from sandbox.serving import free_port

MANAGER_LOGIN = 1000
REPO = Path(__file__).resolve().parents[2]


@dataclass
class SimServer:
    data_dir: Path
    password: str
    seed: int = 7
    start_ms: int | None = None  # a fixed simulated start makes a seeded run identical on any day
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    kind: str = "mt5"  # the registered platform whose wire format it speaks: mt5 (Web API) or mt4 (sidecar)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or start again, on the same port and data: a server down and back)."""
        self.port = self.port or free_port()
        if self.kind == "mt4":
            env = {**os.environ, "MT4_SIDECAR_SECRET": self.password, "MT4_SIDECAR_DATA_DIR": str(self.data_dir),
                   "MT4_SIDECAR_LOGIN": str(MANAGER_LOGIN), "MT4_SIDECAR_SEED": str(self.seed),
                   "MT4_SIDECAR_START_MS": str(self.start_ms or "")}
            argv = [sys.executable, "-m", "sandbox.mt4_sidecar", "--port", str(self.port)]
        else:
            env = {**os.environ, "SIM_MANAGER_PASSWORD": self.password}
            argv = [sys.executable, "-m", "sandbox.simulator", "--port", str(self.port),
                    "--data-dir", str(self.data_dir), "--seed", str(self.seed), "--rate", "0",
                    "--manager-login", str(MANAGER_LOGIN),
                    *(["--start-ms", str(self.start_ms)] if self.start_ms is not None else [])]
        self.process = subprocess.Popen(argv, cwd=REPO, env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base_url}/sim/state", timeout=0.5).raise_for_status()
                return
            except httpx.HTTPError:
                assert self.process.poll() is None, "simulator exited during start"
                time.sleep(0.05)
        raise RuntimeError("simulator did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def admin(self, method: str, action: str, json: Any = None, **params: Any) -> Any:
        response = httpx.request(
            method, f"{self.base_url}/sim/{action}", json=json, params=params, timeout=30
        )
        return response.status_code, response.json()

    def ok(self, method: str, action: str, json: Any = None, **params: Any) -> Any:
        status, body = self.admin(method, action, json, **params)
        assert status == 200, body
        return body

    def credentials(self, password: str | None = None) -> MT5Credentials:
        return MT5Credentials(self.base_url, MANAGER_LOGIN, password or self.password)

    def connection(self, password: str | None = None) -> registry.Connection:
        return registry.Connection(self.base_url, MANAGER_LOGIN, password or self.password)

    def adapter(self, password: str | None = None, **options: Any) -> TradingPlatform:
        """The registered adapter of this server's platform, as `platform_for` builds it."""
        options = {"timeout": 3.0, "retries": 2, "backoff": 0.01, **options}
        return registry.platform_kind(self.kind).connect(self.connection(password), **options)

    def platform(self, password: str | None = None, **options: Any) -> MT5Platform:
        options = {"timeout": 3.0, "retries": 2, "backoff": 0.01, **options}
        return MT5Platform.connect(self.credentials(password), **options)


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    server = SimServer(tmp_path_factory.mktemp("sim"), password=secrets.token_urlsafe(12) + "Aa1!")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def platform(sim: SimServer) -> AsyncIterator[MT5Platform]:
    p = sim.platform()
    yield p
    await p.aclose()


async def new_funded_account(
    platform: MT5Platform, amount: str = "10000", group: str = "real\\standard", leverage: int = 100
) -> int:
    account = await platform.create_account(NewAccount(group=group, leverage=leverage, name="Test Trader"))
    if Decimal(amount) > 0:
        await platform.balance_operation(
            account.login, BalanceOpKind.DEPOSIT, Decimal(amount), "funding", secrets.token_hex(8)
        )
    return account.login
