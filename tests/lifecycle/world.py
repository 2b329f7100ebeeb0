"""The processes of a whole brokerage on loopback, each started as an operator would start it.

The API (`python -m api api`) and the worker (`python -m api worker`) are configured only through
environment variables; the stand-ins run as `python -m sandbox.<name> --host 127.0.0.1 --port N` with
their secrets in the environment; the trading-server simulator is `python -m sandbox.simulator`; mail
goes to a real SMTP server on loopback (aiosmtpd). The test talks to all of them over HTTP only.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT, free_port
from tests.smtp import Inbox

TOKEN_RE = re.compile(r"token=([A-Za-z0-9_\-]+)")


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Processes:
    folder: Path
    running: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log_path = self.folder / f"{name}.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                    env=env)
        started = Process(name, proc, log_path)
        self.running.append(started)
        return started

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} (exit {p.proc.poll()}) -----\n{p.log_tail()}" for p in self.running)

    def stop_all(self) -> None:
        for p in reversed(self.running):
            p.stop()


def base_env(**extra: str) -> dict[str, str]:
    """The machine's environment without any FOREXCRM_ setting of the test run's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOREXCRM_", "PYTEST_"))}
    env.update(extra)
    return env


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def wait_port(process: Process, port: int, processes: Processes, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not port_open(port):
        if process.proc.poll() is not None:
            raise AssertionError(f"{process.name} exited during start\n{processes.logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{process.name} not listening on {port} within {within_s}s\n{processes.logs()}")
        await asyncio.sleep(0.1)


async def until(what: str, probe: Callable[[], Awaitable[Any]], processes: Processes, *,
                within_s: float = 30.0, every_s: float = 0.25) -> Any:
    """Polls `probe` until it returns something truthy; fails naming `what`, with every process's log."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within_s}s (last seen: {last!r})\n{processes.logs()}")
        await asyncio.sleep(every_s)


class Api:
    """GraphQL over HTTP with a bearer token, failing loudly on transport or GraphQL errors."""

    def __init__(self, http: httpx.AsyncClient, processes: Processes, token: str | None = None) -> None:
        self.http = http
        self.processes = processes
        self.token = token

    def as_(self, token: str | None) -> Api:
        return Api(self.http, self.processes, token)

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                        headers=headers)
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.processes.logs()}"
        body: dict[str, Any] = response.json()
        return body

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a call that must succeed: no GraphQL errors and every payload's `errors` empty."""
        body = await self.raw(query, variables)
        assert not body.get("errors"), f"{query}\n{variables}\n-> {body['errors']}"
        data: dict[str, Any] = body["data"]
        for value in data.values():
            if isinstance(value, dict) and "errors" in value:
                assert value["errors"] == [], f"{query}\n{variables}\n-> {value}"
        return data


async def mail_to(inbox: Inbox, address: str, processes: Processes, *, count: int = 1,
                  within_s: float = 20.0) -> str:
    """The body of the `count`-th e-mail to `address`."""
    await until(f"e-mail #{count} to {address}", lambda: _ready(len(inbox.to(address)) >= count), processes,
                within_s=within_s, every_s=0.05)
    message = inbox.to(address)[count - 1]
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes), message
    return payload.decode()


async def _ready(value: bool) -> bool:
    return value


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_hex(24)


__all__ = ["TOKEN_RE", "Api", "Process", "Processes", "base_env", "free_port", "mail_to", "new_secret", "until",
           "wait_port"]
