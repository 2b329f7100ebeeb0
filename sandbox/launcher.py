"""What `forexcrm run` starts beside the API: trading-server simulators (and the rows that point at
them) and the providers' stand-ins (STAND_INS below).

Each simulator speaks the MT5 Web API on 127.0.0.1:<base_port + i>, keeps its state under
<data_dir>/simulators/sim-<i>, and trades continuously (a modest --rate). The manager password is
generated once, kept in <data_dir>/simulators/manager_password (mode 0600) and passed to the
process through its environment, never on the command line.

Each stand-in runs as `python -m sandbox.<name> --host 127.0.0.1 --port N`, its secrets generated
once per data folder (<data_dir>/sandbox/secrets.json, mode 0600) and handed to it and to the API
and worker through their environments: the API's side lands in its Settings (FOREXCRM_* variables,
plus FOREXCRM_SANDBOX_URLS naming each stand-in's base URL). A stand-in is ready when its port
accepts connections; its output goes to <data_dir>/logs/<name>.log.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

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


def start_simulators(data_dir: Path, count: int = 1, base_port: int = 18501, *,
                     populate_groups: int = 1) -> list[SimulatorProcess]:
    """Start `count` simulators and wait until each answers; returns the processes. `populate_groups`: groups of
    the simulator's own traders (accounts it opens and funds itself, outside the CRM) when no trader is attached
    yet; 0 when the demo brokerage attaches its clients' accounts instead, so that every balance operation on the
    server has its counterpart in the ledger and reconciliation finds nothing to report."""
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
             "--manager-login", str(MANAGER_LOGIN), "--populate-groups", str(populate_groups)],
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


@dataclass(frozen=True)
class StandIn:
    """One provider stand-in `forexcrm run` starts. Templates are formatted with `url` (the
    stand-in's base URL), `api` (the API's base URL), `data` (the data folder) and each of `secrets`
    (generated once)."""

    name: str  # the module: python -m sandbox.<name>
    port_offset: int  # its port: FOREXCRM_STAND_IN_PORT + offset
    secrets: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # the stand-in's own environment
    api_env: Mapping[str, str] = field(default_factory=dict)  # the API's and worker's (their Settings)


# The stand-ins `forexcrm run` starts, one line each: add a provider here. `env` names what
# `python -m sandbox.<name>` reads; `api_env` what the provider's adapter reads in the API and worker.
STAND_INS: tuple[StandIn, ...] = (
    StandIn("stripe", 0, ("api_key", "webhook_secret"),
            env={"STRIPE_API_KEY": "{api_key}", "STRIPE_WEBHOOK_SECRET": "{webhook_secret}",
                 "STRIPE_WEBHOOK_URL": "{api}/webhooks/stripe"},
            api_env={"FOREXCRM_PSP_STRIPE_API_KEY": "{api_key}",
                     "FOREXCRM_PSP_STRIPE_WEBHOOK_SECRETS": "{webhook_secret}"}),
    StandIn("kyc", 1, ("app_token", "secret_key", "webhook_secret"),
            env={"SUMSUB_APP_TOKEN": "{app_token}", "SUMSUB_SECRET_KEY": "{secret_key}",
                 "SUMSUB_WEBHOOK_SECRET": "{webhook_secret}", "SUMSUB_WEBHOOK_URL": "{api}/webhooks/sumsub"},
            api_env={"FOREXCRM_KYC_PROVIDER": "sumsub", "FOREXCRM_KYC_BASE_URL": "{url}",
                     "FOREXCRM_KYC_APP_TOKEN": "{app_token}", "FOREXCRM_KYC_SECRET_KEY": "{secret_key}",
                     "FOREXCRM_KYC_WEBHOOK_SECRETS": "{webhook_secret}"}),
    StandIn("coinspaid", 2, ("api_key", "secret_key"),
            env={"COINSPAID_API_KEY": "{api_key}", "COINSPAID_SECRET_KEY": "{secret_key}",
                 "COINSPAID_CALLBACK_URL": "{api}/webhooks/coinspaid"},
            api_env={"FOREXCRM_PSP_COINSPAID_API_KEY": "{api_key}",
                     "FOREXCRM_PSP_COINSPAID_WEBHOOK_SECRETS": "{secret_key}"}),
    StandIn("praxis", 3, ("merchant_id", "application_key", "merchant_secret"),
            env={"PRAXIS_MERCHANT_ID": "{merchant_id}", "PRAXIS_APPLICATION_KEY": "{application_key}",
                 "PRAXIS_MERCHANT_SECRET": "{merchant_secret}"},
            api_env={"FOREXCRM_PSP_PRAXIS_MERCHANT_ID": "{merchant_id}",
                     "FOREXCRM_PSP_PRAXIS_APPLICATION_KEY": "{application_key}",
                     "FOREXCRM_PSP_PRAXIS_WEBHOOK_SECRETS": "{merchant_secret}",
                     "FOREXCRM_PSP_PRAXIS_NOTIFICATION_URL": "{api}/webhooks/praxis"}),
    StandIn("fx", 4, api_env={"FOREXCRM_FX_SOURCE": "ecb",
                              "FOREXCRM_FX_ECB_URL": "{url}/stats/eurofxref/eurofxref-daily.xml"}),
    # An MT4 server behind its sidecar (docs/platforms/mt4-sidecar.md), trading: add it through the API as a
    # trading server with platform "mt4", its URL, manager login 1000 and this secret as the password.
    StandIn("mt4_sidecar", 5, ("secret",),
            env={"MT4_SIDECAR_SECRET": "{secret}", "MT4_SIDECAR_DATA_DIR": "{data}/simulators/mt4-sidecar",
                 "MT4_SIDECAR_RATE": "2"}),
    # Push: FCM HTTP v1 (a service account's key, the stand-in checks its signature) and APNs over HTTP/2 (h2c).
    StandIn("fcm", 6, ("service_account_rsa_key",),
            env={"FCM_PROJECT_ID": "forexcrm-dev", "FCM_CLIENT_EMAIL": "push@forexcrm-dev.iam.gserviceaccount.com",
                 "FCM_PRIVATE_KEY": "{service_account_rsa_key}"},
            api_env={"FOREXCRM_PUSH_FCM_PROJECT_ID": "forexcrm-dev", "FOREXCRM_PUSH_FCM_BASE_URL": "{url}",
                     "FOREXCRM_PUSH_FCM_TOKEN_URI": "{url}/token",
                     "FOREXCRM_PUSH_FCM_CLIENT_EMAIL": "push@forexcrm-dev.iam.gserviceaccount.com",
                     "FOREXCRM_PUSH_FCM_PRIVATE_KEY": "{service_account_rsa_key}"}),
    StandIn("apns", 7, ("auth_ec_key",),
            env={"APNS_TEAM_ID": "FXCRMTEAM1", "APNS_KEY_ID": "FXCRMKEY01", "APNS_TOPIC": "com.forexcrm.app",
                 "APNS_PRIVATE_KEY": "{auth_ec_key}"},
            api_env={"FOREXCRM_PUSH_APNS_BASE_URL": "{url}", "FOREXCRM_PUSH_APNS_TEAM_ID": "FXCRMTEAM1",
                     "FOREXCRM_PUSH_APNS_KEY_ID": "FXCRMKEY01", "FOREXCRM_PUSH_APNS_TOPIC": "com.forexcrm.app",
                     "FOREXCRM_PUSH_APNS_PRIVATE_KEY": "{auth_ec_key}"}),
)


class StandInProcess(subprocess.Popen[bytes]):
    name: str
    base_url: str
    port: int


@dataclass
class StartedStandIns:
    processes: list[StandInProcess]
    api_env: dict[str, str]  # what the API and worker need (FOREXCRM_* variables)

    @property
    def urls(self) -> dict[str, str]:
        return {p.name: p.base_url for p in self.processes}


def _generated(name: str) -> str:
    """A fresh secret: a private key in PEM for a key name (FCM's service account: RSA; APNs' auth key: P-256),
    else random hex."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if name.endswith("_rsa_key"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif name.endswith("_ec_key"):
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        return secrets.token_hex(24)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _stand_in_secrets(folder: Path, stand_ins: Sequence[StandIn]) -> dict[str, dict[str, str]]:
    """Each stand-in's secrets, generated once per data folder and kept there (mode 0600)."""
    path = folder / "secrets.json"
    stored: dict[str, dict[str, str]] = orjson.loads(path.read_bytes()) if path.exists() else {}
    changed = False
    for s in stand_ins:
        mine = stored.setdefault(s.name, {})
        for name in s.secrets:
            if name not in mine:
                mine[name], changed = _generated(name), True
    if changed:
        path.touch(mode=0o600)
        path.write_bytes(orjson.dumps(stored, option=orjson.OPT_INDENT_2))
    return stored


def start_stand_ins(data_dir: Path, api_base_url: str, base_port: int,
                    stand_ins: Sequence[StandIn] = STAND_INS, *, environ: Mapping[str, str] | None = None,
                    timeout_s: float = 20.0) -> StartedStandIns:
    """Start each stand-in, wait until every port accepts connections; returns the processes and the
    environment the API needs. A variable already set in `environ` (a real provider configured)
    is left alone."""
    environ = os.environ if environ is None else environ
    folder = data_dir / "sandbox"
    logs = data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    all_secrets = _stand_in_secrets(folder, stand_ins)
    started: list[StandInProcess] = []
    api_env: dict[str, str] = {}
    try:
        for s in stand_ins:
            port = base_port + s.port_offset
            _check_free(s.name, port)
            values = {"url": f"http://127.0.0.1:{port}", "api": api_base_url.rstrip("/"), "data": str(data_dir),
                      **all_secrets[s.name]}
            child_env = {**environ, **{k: v.format(**values) for k, v in s.env.items()}}
            with (logs / f"{s.name}.log").open("ab") as log:
                proc = StandInProcess(
                    [sys.executable, "-m", f"sandbox.{s.name}", "--host", "127.0.0.1", "--port", str(port)],
                    cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            proc.name, proc.base_url, proc.port = s.name, values["url"], port
            started.append(proc)
            api_env.update({k: v.format(**values) for k, v in s.api_env.items() if k not in environ})
        for proc in started:
            _wait_port(proc, logs / f"{proc.name}.log", timeout_s)
    except BaseException:
        stop_processes(started)
        raise
    api_env["FOREXCRM_SANDBOX_URLS"] = orjson.dumps({p.name: p.base_url for p in started}).decode()
    return StartedStandIns(started, api_env)


def _check_free(name: str, port: int) -> None:
    """Something else answering on the port would pass for the stand-in: refuse to start instead."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"stand-in {name}: port {port} is in use (FOREXCRM_STAND_IN_PORT moves "
                               "the stand-ins)") from exc


def _wait_port(proc: StandInProcess, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stand-in {proc.name} exited during start (is port {proc.port} free? see {log})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", proc.port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"stand-in {proc.name} did not accept connections on port {proc.port} within "
                       f"{timeout_s:.0f} s (see {log})")


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout_s: float = 15.0) -> None:
    """SIGTERM each still running, then wait (killing what outlives the deadline)."""
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout_s
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
