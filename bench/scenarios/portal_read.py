"""Portal reads over HTTP with real sign-in, beside a hand-written endpoint (the anchor) answering
byte-identical JSON from the same database in the same run.

Two pages, each at 32 concurrent clients in alternating rounds (the order turning each round):
- the client portal: the signed-in client's trading accounts, wallets with balances and the last
  50 deals of an account (about 16 kB of JSON);
- a staff list: the newest 50 clients with status, country and wallet balances.

The API runs as in production (`forexcrm api` under uvicorn in its own process), the anchor
(bench/portal_anchor.py) under uvicorn in another, and the load comes from this process. The live
trading-server figures (TradingAccount.state) are not on the page: they come from the trading
server, not the database, and would measure the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import pyotp

from bench.harness import api_process, bench_services, stop_process
from bench.loadgen import LoadResult, _read_response, build_request, run_load
from domain.identity import roles as roles_service
from domain.identity.sessions import create_user
from domain.ledger import wallets
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings
from sandbox.serving import free_port

CONCURRENCY = 32
PASSWORD = "bench passphrase that is long 77"
DEALS_ON_PAGE = 50

# The documents a portal sends; the anchor answers the same shapes (bench/portal_anchor.py).
PORTAL_QUERY = """query PortalPage($accountId: ID!) {
  myTradingAccounts(first: 50) { nodes { id serverId login group leverage currency accountType createdAt } }
  myWallets { id currency balance held available }
  deals(accountId: $accountId, first: 50) { nodes { dealId time login positionId action entry symbol price volume
    profit commission swap fee comment } }
}"""
STAFF_QUERY = """query StaffClients {
  clients(first: 50) { nodes { id status name country createdAt wallets { currency balance available } } }
}"""

COUNTRIES = ["GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "CY", "AE"]
STATUSES = ["registered", "email_verified", "profile_complete", "under_review", "active", "active", "active"]


async def _populate(db_url: str, clients: int) -> tuple[int, int]:
    """Clients with wallets (credited through the ledger's deposit service), the bench client with
    three trading accounts and a few hundred deals; returns (bench client's user id, its main account id)."""
    settings = Settings()
    engine = create_engine(db_url, settings, pool_size=4)
    factory = create_session_factory(engine)
    actor = system_actor("bench")
    try:
        async with factory() as s, s.begin():
            await roles_service.ensure_builtin_roles(s)
            me = await create_user(s, settings, actor, email="portal@example.com", password=PASSWORD, is_client=True)
            staff = await create_user(s, settings, actor, email="staff@broker.example", password=PASSWORD,
                                      is_staff=True)
            await roles_service.assign(s, actor, staff.id, "compliance")  # back office: every client
            my_id = me.id
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            await conn.execute("""
                INSERT INTO users (email, email_normalized, is_client)
                SELECT 'client' || g || '@example.com', 'client' || g || '@example.com', true
                FROM generate_series(1, $1) g""", clients - 1)
            await conn.execute("""
                INSERT INTO clients (user_id, status, first_name, last_name, country, created_at)
                SELECT u.id, ($1::text[])[1 + u.id % array_length($1::text[], 1)], 'Client', 'No ' || u.id,
                       ($2::text[])[1 + u.id % array_length($2::text[], 1)],
                       now() - make_interval(mins => u.id::int)
                FROM users u WHERE u.is_client ORDER BY u.id""", STATUSES, COUNTRIES)
            server_id = await conn.fetchval(
                "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
                "VALUES ('bench', 'mt5', 'http://127.0.0.1:9', 1000, 'x') RETURNING id")
            accounts = [await conn.fetchval(
                'INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency) '
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", server_id, 7_000_000 + i, my_id,
                "real\\standard" if i else "real\\pro", 100 * (i + 1), cur)
                for i, cur in enumerate(("USD", "EUR", "USD"))]
            await conn.execute("""
                INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, order_id, position_id, action,
                    entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size,
                    rate_profit, rate_margin, notional_usd, comment, batch_id)
                SELECT $1, 900000 + g, t, (extract(epoch FROM t) * 1000)::bigint, $2, 500000 + g, 300000 + g / 2,
                       g % 2, g % 2, (ARRAY['EURUSD', 'GBPUSD', 'USDJPY', 'XAUUSD'])[1 + g % 4],
                       round((1.05 + (g % 97) / 1000.0)::numeric, 5), round(((1 + g % 9) / 10.0)::numeric, 2),
                       CASE WHEN g % 2 = 1 THEN round(((g % 41) - 20.5)::numeric, 2) ELSE 0 END,
                       -0.70, CASE WHEN g % 5 = 0 THEN -0.35 ELSE 0 END, 0, 0, 100000, 1, 1,
                       round((105000 * (1 + g % 9) / 10.0)::numeric, 2), 'bench deal ' || g, $3
                FROM generate_series(1, 400) g, LATERAL (SELECT now() - make_interval(secs => 4000 - g * 7) AS t) x
                """, server_id, 7_000_000, uuid.uuid4())
            for table in ("users", "clients", "trading_accounts", "trading_deals"):
                await conn.execute(f"ANALYZE {table}")
            uids = [r["id"] for r in await conn.fetch("SELECT user_id AS id FROM clients ORDER BY id")]
        finally:
            await conn.close()

        async def fund(session: Any, uid: int, currency: str, amount: Decimal) -> Any:
            return await wallets.deposit_to_wallet(session, actor, user_id=uid, currency=currency, amount=amount,
                                                   idempotency_key=uuid.uuid4().hex)

        async def fund_user(uid: int) -> None:
            await in_transaction(factory, functools.partial(fund, uid=uid, currency="USD",
                                                            amount=Decimal(1000 + uid % 997) + Decimal("0.25")))
            if uid % 3 == 0 or uid == my_id:
                await in_transaction(factory, functools.partial(fund, uid=uid, currency="EUR",
                                                                amount=Decimal(50 + uid % 89)))

        for start in range(0, len(uids), 4):
            await asyncio.gather(*(fund_user(u) for u in uids[start:start + 4]))
        # The wallets were written after the ANALYZE above; a server without autovacuum (CI's) would
        # plan both sides' reads on empty statistics.
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            await conn.execute("ANALYZE ledger_accounts, ledger_balances")
        finally:
            await conn.close()
        return my_id, accounts[0]
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def anchor_process(db_url: str, extra_env: dict[str, str]) -> AsyncIterator[int]:
    """bench/portal_anchor.py under uvicorn in its own process."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", "bench.portal_anchor", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("anchor exited: " + (proc.stderr.read().decode() if proc.stderr else ""))
                try:
                    await client.get(f"http://127.0.0.1:{port}/portal")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("anchor did not start") from None
                    await asyncio.sleep(0.2)
        yield port
    finally:
        stop_process(proc)


async def _sign_in(base: str) -> tuple[str, str]:
    """(client token, staff token) through the login mutation; the staff user enrols 2FA first, as
    every staff user must, and signs in again with a code."""
    login = ("mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code message } } }")
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        async def sign_in(email: str, code: str | None = None) -> str:
            r = await http.post("/graphql", json={"query": login, "variables": {"i": {
                "email": email, "password": PASSWORD, "totpCode": code, "device": "bench"}}})
            payload = r.json()["data"]["login"]
            assert not payload["errors"], payload
            return str(payload["accessToken"])

        client = await sign_in("portal@example.com")
        first = await sign_in("staff@broker.example")
        auth = {"Authorization": f"Bearer {first}"}
        started = (await http.post("/graphql", headers=auth, json={
            "query": "mutation { startTotpEnrollment { secret errors { code } } }"})).json()
        secret = started["data"]["startTotpEnrollment"]["secret"]
        totp = pyotp.TOTP(secret)
        confirmed = (await http.post("/graphql", headers=auth, json={
            "query": "mutation($c: String!) { confirmTotpEnrollment(code: $c) { errors { code } } }",
            "variables": {"c": totp.at(time.time() - 30)}})).json()
        assert not confirmed["data"]["confirmTotpEnrollment"]["errors"], confirmed
        staff = await sign_in("staff@broker.example", totp.now())
    return client, staff


def _ok(body: bytes) -> bool:
    return body.startswith(b'{"data":{') and b'"errors"' not in body[:200]


async def _same_answer(api: int, anchor: int, requests: dict[str, bytes]) -> dict[str, int]:
    """Both sides' bodies, byte for byte (checked once per run); returns the page sizes."""
    sizes: dict[str, int] = {}
    for page in ("portal", "staff"):
        bodies = {}
        for side, port in (("graphql", api), ("anchor", anchor)):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(requests[f"{page}_{side}"])
                status, bodies[side] = await _read_response(reader)
                assert status == 200, (page, side, status, bodies[side][:300])
            finally:
                writer.close()
        if bodies["graphql"] != bodies["anchor"]:
            raise AssertionError(f"{page}: the anchor's JSON differs from the API's\n"
                                 f"graphql: {bodies['graphql'][:600]!r}\nanchor:  {bodies['anchor'][:600]!r}")
        sizes[page] = len(bodies["graphql"])
    return sizes


def _pooled(parts: list[LoadResult]) -> dict[str, float]:
    latencies = sorted(t for p in parts for t in p.latencies)
    seconds = sum(p.seconds for p in parts)
    errors = sum(p.errors for p in parts)
    if not latencies:
        return {"requests": 0, "errors": errors, "rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0}
    return {"requests": len(latencies), "errors": errors,
            "rps": round((len(latencies) - errors) / seconds, 1) if seconds else 0.0,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2)}


async def run(*, quick: bool = False) -> dict[str, Any]:
    # A stalled process (the shared machine) ends the scenario with an error instead of hanging CI.
    async with asyncio.timeout(240 if quick else 900):
        return await _run(quick)


async def _run(quick: bool) -> dict[str, Any]:
    rounds, seconds, clients = (2, 1.0, 200) if quick else (4, 4.0, 2000)
    # One issuer for both processes: the anchor checks the API's tokens as the API does. Both have 12
    # connections (the anchor's asyncpg pool max_size): overflow connections, opened and closed per
    # burst at 32 clients, cost the API connection start-ups the anchor never pays.
    env = {"FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000000", "FOREXCRM_DB_POOL_SIZE": "12",
           "FOREXCRM_DB_MAX_OVERFLOW": "0", "FOREXCRM_PUBLIC_BASE_URL": "http://127.0.0.1:8000"}
    async with bench_services("portal_read") as (db_url, redis_url):
        started = time.perf_counter()
        my_id, account_id = await _populate(db_url, clients)
        populate_s = time.perf_counter() - started
        async with api_process(db_url, redis_url, env) as api, anchor_process(db_url, env) as anchor:
            client_token, staff_token = await _sign_in(f"http://127.0.0.1:{api}")
            portal_body = orjson.dumps({"query": PORTAL_QUERY, "operationName": "PortalPage",
                                        "variables": {"accountId": str(account_id)}})
            staff_body = orjson.dumps({"query": STAFF_QUERY, "operationName": "StaffClients"})
            requests = {
                "portal_graphql": build_request("127.0.0.1", api, "/graphql", portal_body,
                                                {"Authorization": f"Bearer {client_token}"}),
                "portal_anchor": build_request("127.0.0.1", anchor, f"/portal?account={account_id}", None,
                                               {"Authorization": f"Bearer {client_token}"}),
                "staff_graphql": build_request("127.0.0.1", api, "/graphql", staff_body,
                                               {"Authorization": f"Bearer {staff_token}"}),
                "staff_anchor": build_request("127.0.0.1", anchor, "/staff/clients", None,
                                              {"Authorization": f"Bearer {staff_token}"}),
            }
            sizes = await _same_answer(api, anchor, requests)
            ports = {"graphql": api, "anchor": anchor}
            report: dict[str, Any] = {"concurrency": CONCURRENCY, "rounds": rounds, "clients": clients,
                                      "populate_s": round(populate_s, 1), "identical_json": True}
            for page in ("portal", "staff"):
                results: dict[str, list[LoadResult]] = {"graphql": [], "anchor": []}
                for side in ports:  # warm-up: pools, caches, plans
                    await run_load("127.0.0.1", ports[side], requests[f"{page}_{side}"], concurrency=CONCURRENCY,
                                   seconds=0.5 if quick else 1.5)
                for r in range(rounds):
                    for side in (("anchor", "graphql") if r % 2 == 0 else ("graphql", "anchor")):
                        results[side].append(await run_load(
                            "127.0.0.1", ports[side], requests[f"{page}_{side}"], concurrency=CONCURRENCY,
                            seconds=seconds, ok=_ok))
                graphql, anchor_figures = _pooled(results["graphql"]), _pooled(results["anchor"])
                report[page] = {
                    "bytes": sizes[page], "graphql": graphql, "anchor_asyncpg_starlette": anchor_figures,
                    "per_round_rps": [{"anchor": round(a.rps, 1), "graphql": round(g.rps, 1)}
                                      for a, g in zip(results["anchor"], results["graphql"], strict=True)],
                    "ratio": round(graphql["rps"] / anchor_figures["rps"], 3) if anchor_figures["rps"] else 0.0,
                }
    report["client_user_id"] = my_id
    return report
