"""Simulated trading servers for `forexcrm run`: processes, and the rows that point at them.

Each simulator speaks the MT5 Web API on 127.0.0.1:<base_port + i>, keeps its state under
<data_dir>/simulators/sim-<i>, and trades continuously (a modest --rate). The manager password is
generated once, kept in <data_dir>/simulators/manager_password (mode 0600) and passed to the
process through its environment, never on the command line.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from domain.shared.db import SessionFactory, in_transaction
from domain.shared.settings import Settings, get_settings
from domain.trading.servers import ServerConfig, upsert_server

MANAGER_LOGIN = 1000
DEV_RATE = 2.0  # deals per second per simulator: visible activity, modest load
ROOT = Path(__file__).resolve().parent.parent


class SimulatorProcess(subprocess.Popen[bytes]):
    """A running simulator and what a trading_servers row needs to reach it."""

    name: str
    base_url: str
    manager_login: int
    password: str


def _password(folder: Path) -> str:
    path = folder / "manager_password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(16) + "Aa1!"
    path.touch(mode=0o600)
    path.write_text(password)
    return password


def start_simulators(data_dir: Path, count: int = 1, base_port: int = 18501) -> list[SimulatorProcess]:
    """Start `count` simulators and wait until each answers; returns the processes."""
    folder = data_dir / "simulators"
    folder.mkdir(parents=True, exist_ok=True)
    password = _password(folder)
    env = {**os.environ, "SIM_MANAGER_PASSWORD": password}
    started: list[SimulatorProcess] = []
    for i in range(count):
        port = base_port + i
        proc = SimulatorProcess(
            [sys.executable, "-m", "sandbox.simulator", "--port", str(port),
             "--data-dir", str(folder / f"sim-{i}"), "--seed", str(1 + i), "--rate", str(DEV_RATE),
             "--manager-login", str(MANAGER_LOGIN)],
            cwd=ROOT, env=env,
        )  # fmt: skip
        proc.name, proc.base_url = f"simulator-{i + 1}", f"http://127.0.0.1:{port}"
        proc.manager_login, proc.password = MANAGER_LOGIN, password
        started.append(proc)
    try:
        for proc in started:
            _wait_ready(proc)
    except Exception:
        for proc in started:
            proc.terminate()
        raise
    return started


def _wait_ready(proc: SimulatorProcess, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited during start (is port {proc.base_url} free?)")
        try:
            httpx.get(f"{proc.base_url}/sim/state", timeout=0.5).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not start within {timeout_s:.0f} s")


async def register_dev_servers(
    session_factory: SessionFactory, simulators: Sequence[Any], settings: Settings | None = None
) -> None:
    """Upsert one trading_servers row per simulator (idempotent: matched by name)."""
    secret = (settings or get_settings()).secret_key.get_secret_value()

    async def txn(session: Any) -> None:
        for sim in simulators:
            await upsert_server(
                session, secret, ServerConfig(sim.name, sim.base_url, sim.manager_login, sim.password)
            )

    await in_transaction(session_factory, txn)
