"""The real `forexcrm run` on embedded defaults, as a newcomer would start it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from api.dbroles import RUNTIME_ROLE
from api.embedded import EmbeddedServices
from domain.shared.db import asyncpg_dsn
from sandbox.launcher import STAND_INS
from sandbox.serving import free_ports
from tests.conftest import free_port
from tests.wsclient import graphql_ws


def _embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("FOREXCRM_")}
    env.update(FOREXCRM_DATA_DIR=str(data_dir), FOREXCRM_PORT=str(port), FOREXCRM_HEARTBEAT_INTERVAL_S="1",
               FOREXCRM_LOG_LEVEL="WARNING", FOREXCRM_SIMULATOR_PORT=str(free_port()),
               FOREXCRM_STAND_IN_PORT=str(free_ports(len(STAND_INS))))
    return env


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmd and ("postgres" in cmd or "redis" in cmd):
            found.append(proc)
    return found


def _wait_stopped(data_dir: Path, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while _servers_using(data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


async def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise AssertionError(f"forexcrm run exited early ({proc.returncode}):\n{stderr[-3000:]}")
            try:
                r = await client.get(base + "/ready")
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("never became ready")


async def _demo_brokerage(base: str, data_dir: Path, env: dict[str, str]) -> None:
    """The demo is a whole brokerage, seen through GraphQL: the client signs in and sees funded
    wallets, live accounts (which the simulator's traders trade) and the payment methods."""
    creds = json.loads((data_dir / "demo-credentials.json").read_text())
    login = "mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code } } }"
    async with httpx.AsyncClient(timeout=20) as client:
        async def gql(query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            r = await client.post(base + "/graphql", json={"query": query, "variables": variables or {}},
                                  headers=headers)
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            return r.json()["data"]

        tokens = {}
        for email in ("client@demo.example.com", "ib@demo.example.com", "subib@demo.example.com"):
            signed = (await gql(login, {"i": {"email": email, "password": creds[email]}}))["login"]
            assert signed["errors"] == [] and signed["accessToken"], (email, signed)
            tokens[email] = signed["accessToken"]
        seen = await gql("{ myWallets { currency balance } myTradingAccounts { nodes { login group currency } } "
                         "paymentMethods { code kind currency } }", token=tokens["client@demo.example.com"])
        balances = {w["currency"]: Decimal(w["balance"]) for w in seen["myWallets"]}
        assert balances["USD"] > 0 and balances["EUR"] > 0, balances
        accounts = seen["myTradingAccounts"]["nodes"]
        assert {a["group"] for a in accounts} == {"real\\standard", "real\\raw"}, accounts
        methods = {(m["code"], m["currency"]) for m in seen["paymentMethods"]}
        assert {("card", "USD"), ("card", "EUR"), ("wire", "USD"), ("crypto-btc", "BTC")} <= methods, methods
        # The simulator's traders trade the client's accounts.
        sim = f"http://127.0.0.1:{env['FOREXCRM_SIMULATOR_PORT']}"
        traders = (await client.get(sim + "/sim/ground-truth")).json()["traders"]
        assert all(str(a["login"]) in traders for a in accounts), traders


async def test_run_command_serves_queries_and_subscriptions_then_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = _embedded_env(data_dir, port)
    stand_in_ports = [int(env["FOREXCRM_STAND_IN_PORT"]) + s.port_offset for s in STAND_INS]
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "run"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(base, proc)
        # The providers' stand-ins run beside the simulator, as processes of their own.
        assert all(_accepts(p) for p in stand_in_ports)
        stand_ins = [c for c in psutil.Process(proc.pid).children() if "sandbox." in " ".join(c.cmdline())]
        assert {c.cmdline()[2] for c in stand_ins} >= {f"sandbox.{s.name}" for s in STAND_INS}
        async with httpx.AsyncClient() as client:
            r = await client.post(base + "/graphql", json={"query": "{ apiVersion serverTime }"})
            assert r.status_code == 200 and r.json()["data"]["apiVersion"]
        await _demo_brokerage(base, data_dir, env)
        async with graphql_ws(base.replace("http", "ws") + "/graphql", origin=None) as ws:
            await ws.subscribe("subscription { heartbeat { sequence at } }")
            message = await ws.receive(timeout=15)
            assert message["type"] == "next" and message["payload"]["data"]["heartbeat"]["sequence"] > 0
        # The demo simulator's traders trade; the worker ingests their deals continuously.
        shared = EmbeddedServices(data_dir)
        urls = shared.start(None, None)
        try:
            conn = await asyncpg.connect(asyncpg_dsn(urls.database_url))
            try:
                counts: list[int] = []
                for _ in range(120):
                    counts.append(await conn.fetchval("SELECT count(*) FROM trading_deals"))
                    first = next((c for c in counts if c > 0), None)
                    if first is not None and counts[-1] > first:
                        break
                    await asyncio.sleep(1)
                first = next((c for c in counts if c > 0), 0)
                assert counts[-1] > first > 0, counts  # ingested, then kept ingesting
                # The two administrators (four eyes), the client, the IB and its sub-IB.
                assert await conn.fetchval("SELECT count(*) FROM users WHERE email LIKE '%@demo.example.com'") == 5
                # The API and worker connect as the runtime role, which owns no table (api/dbroles.py).
                assert await conn.fetchval("SELECT current_user") == RUNTIME_ROLE
                assert await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = 'forexcrm' "
                                           "AND usename = $1 AND pid <> pg_backend_pid()", RUNTIME_ROLE) > 0
                assert not await conn.fetchval("SELECT has_table_privilege('audit_events', 'UPDATE')")
            finally:
                await conn.close()
        finally:
            shared.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, stderr.decode()[-2000:]
    # The first start logs no failure (the platforms are looked up after migrations, not before).
    assert b"refresh_failed" not in stderr, stderr.decode()[-2000:]
    assert b"demo data:" not in stderr, stderr.decode()[-2000:]  # every piece of the demo seeded
    # The banner: who signs in, the 2FA enrolment, where the passwords are (never the passwords).
    banner = " ".join(stderr.decode().split())
    assert "admin@demo.example.com" in banner and "client@demo.example.com" in banner
    assert "officer@demo.example.com" in banner and "four eyes" in banner
    assert "ib@demo.example.com" in banner and "subib@demo.example.com" in banner
    assert "two-factor" in banner and "demo-credentials.json" in banner
    for password in json.loads((data_dir / "demo-credentials.json").read_text()).values():
        assert password not in stderr.decode()
    # Stand-ins stop with it.
    assert not any(_accepts(p) for p in stand_in_ports)
    assert not any(s.is_running() and s.status() != psutil.STATUS_ZOMBIE for s in stand_ins)
    # Embedded servers are stopped with the last process using them.
    assert _wait_stopped(data_dir)

    # Data survives a restart: the heartbeats of the first run are still there.
    embedded = EmbeddedServices(data_dir)
    urls = embedded.start(None, None)
    try:
        conn = await asyncpg.connect(asyncpg_dsn(urls.database_url))
        try:
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'system.heartbeat'") > 0
        finally:
            await conn.close()
    finally:
        embedded.stop()


async def test_two_processes_on_one_folder_share_the_servers(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    embedded = EmbeddedServices(data_dir)
    urls = embedded.start(None, None)
    try:
        env = _embedded_env(data_dir, free_port())
        result = subprocess.run([sys.executable, "-m", "api", "migrate"], env=env, cwd=tmp_path,
                                capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        # The second process left; our handle keeps both servers running and usable.
        conn = await asyncpg.connect(asyncpg_dsn(urls.database_url))
        try:
            assert await conn.fetchval("SELECT count(*) FROM alembic_version") >= 1
        finally:
            await conn.close()
        assert len({p.pid for p in _servers_using(data_dir)}) >= 2
    finally:
        embedded.stop()
    assert _wait_stopped(data_dir)


def test_unreachable_database_fails_fast_naming_it(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path, free_port())
    env.update(DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing", REDIS_URL="redis://127.0.0.1:6379/0",
               FOREXCRM_DB_CONNECT_TIMEOUT_S="2")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "api", "migrate"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert "PostgreSQL is unreachable" in result.stderr.decode()
    # Well under the connect timeouts of a hanging client (process start-up dominates on a busy machine).
    assert time.monotonic() - started < 45


def test_unreachable_redis_fails_fast_naming_it(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path, free_port())
    env.update(DATABASE_URL=os.environ.get("DATABASE_URL", ""), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               FOREXCRM_REDIS_CONNECT_TIMEOUT_S="2")
    if not env["DATABASE_URL"]:
        env.pop("DATABASE_URL")
    result = subprocess.run([sys.executable, "-m", "api", "migrate"], env=env, capture_output=True, timeout=90)
    assert result.returncode == 2
    assert "Redis is unreachable" in result.stderr.decode()


def test_production_mode_refuses_development_secrets(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path, free_port())
    env.update(FOREXCRM_MODE="production", DATABASE_URL="postgresql://x@127.0.0.1/x", REDIS_URL="redis://127.0.0.1")
    result = subprocess.run([sys.executable, "-m", "api", "api"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert "FOREXCRM_SECRET_KEY" in result.stderr.decode()


async def test_api_with_two_workers_serves_authenticated_requests(settings: Any) -> None:
    """`forexcrm api --workers 2`: each process builds its app from the environment and
    authenticates a token issued by the other (shared signing key and database)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "FOREXCRM_LOG_LEVEL": "WARNING", "FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000"}
    proc = subprocess.Popen([sys.executable, "-m", "api", "api", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(base, proc)
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if "python" in c.name()]
        assert len(workers) >= 2
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            r = await client.post("/graphql", json={
                "query": "mutation($i: RegisterInput!) { register(input: $i) { accessToken errors { code } } }",
                "variables": {"i": {"email": f"workers-{port}@example.com", "password": "workers passphrase 42"}}})
            assert r.json()["data"]["register"]["accessToken"], r.text
            token = r.json()["data"]["register"]["accessToken"]
            for _ in range(8):  # new connections: both processes answer in turn
                async with httpx.AsyncClient(base_url=base, timeout=10) as fresh:
                    me = await fresh.post("/graphql", json={"query": "{ me { email } }"},
                                          headers={"authorization": f"Bearer {token}"})
                    assert me.json()["data"]["me"]["email"] == f"workers-{port}@example.com"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
