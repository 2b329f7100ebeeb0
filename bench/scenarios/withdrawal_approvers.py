"""The withdrawals-awaiting-approval page with who approved each first, by name (`Payment.approvals`,
one statement for the page), as the back office reads it: 8 finance staff signed in for real
(password, then TOTP), each keeping one request in flight, over 2,000 waiting withdrawals (10,000
with the full run), each approved once by one of 20 named staff members.

Anchor, measured in the same run in alternating rounds: the same page without `approvals` (the
ratio is what naming the first approver costs).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson

from bench.harness import api_process, bench_services
from bench.loadgen import LoadResult, build_request, run_load
from bench.staff_sign_in import sign_in_all
from domain.identity import roles as roles_service
from domain.identity.sessions import create_user
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory
from domain.shared.settings import Settings

STAFF = 8
APPROVERS = 20
PAGE = 50
PASSWORD = "bench staff passphrase long 42"
FIELDS = "id reference amount currency createdAt"
PLAIN = f"{{ pendingWithdrawals(first: {PAGE}) {{ nodes {{ {FIELDS} }} }} }}"
NAMED = f"{{ pendingWithdrawals(first: {PAGE}) {{ nodes {{ {FIELDS} approvals {{ name approvedAt }} }} }} }}"


async def _seed(dsn: str, withdrawals: int) -> None:
    """Clients, named approvers, and withdrawals awaiting a second approval (written directly: the
    page's reads are measured, not the approval flow)."""
    conn = await asyncpg.connect(dsn)
    try:
        tag = uuid.uuid4().hex[:6]
        approvers = [r["id"] for r in await conn.fetch(
            "INSERT INTO users (email, email_normalized, is_staff, display_name) "
            "SELECT e, e, true, 'Approver ' || g FROM (SELECT g, 'appr-' || g || '-' || $1::text "
            "|| '@broker.example' AS e FROM generate_series(1, $2) g) s RETURNING id", tag, APPROVERS)]
        clients = [r["id"] for r in await conn.fetch(
            "INSERT INTO users (email, email_normalized, is_client) "
            "SELECT e, e, true FROM (SELECT 'wd-' || g || '-' || $1::text || '@client.example' AS e "
            "FROM generate_series(1, $2) g) s RETURNING id", tag, max(1, withdrawals // 5))]
        payments = [r["id"] for r in await conn.fetch(
            "INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, "
            "amount, approval, correlation_id, created_at) "
            "SELECT 'WB' || $1::text || lpad(g::text, 8, '0'), ($2::bigint[])[1 + g % array_length($2::bigint[], 1)], "
            "'withdrawal', 'wire', 'wire', 'bank', 'USD', 1000 + g % 900, 'awaiting', gen_random_uuid(), "
            "now() - make_interval(secs => $3 - g) FROM generate_series(1, $3) g RETURNING id",
            tag, clients, withdrawals)]
        await conn.execute(
            "INSERT INTO payment_approvals (payment_id, approver_id) "
            "SELECT p, ($2::bigint[])[1 + p % array_length($2::bigint[], 1)] FROM unnest($1::bigint[]) p",
            payments, approvers)
        await conn.execute("ANALYZE payments; ANALYZE payment_approvals; ANALYZE users")
    finally:
        await conn.close()


async def _finance_tokens(db_url: str, base: str) -> list[str]:
    engine = create_engine(db_url, Settings(), pool_size=1)
    factory = create_session_factory(engine)
    emails: list[str] = []
    try:
        async with factory() as s, s.begin():
            for i in range(STAFF):
                email = f"finance-{i}-{uuid.uuid4().hex[:6]}@broker.example"
                user = await create_user(s, Settings(), system_actor("bench"), email=email, password=PASSWORD,
                                         is_staff=True)
                await roles_service.assign(s, system_actor("bench"), user.id, "finance")
                emails.append(email)
    finally:
        await engine.dispose()
    return await sign_in_all(base, emails, PASSWORD)


def _named_ok(body: bytes) -> bool:
    reply = orjson.loads(body)
    nodes = (reply.get("data") or {}).get("pendingWithdrawals", {}).get("nodes", [])
    return not reply.get("errors") and len(nodes) == PAGE and all(n.get("approvals", [{}])[0].get("name")
                                                                  for n in nodes if "approvals" in n)


def _pooled(parts: list[LoadResult]) -> dict[str, float]:
    latencies = sorted(t for p in parts for t in p.latencies)
    seconds = sum(p.seconds for p in parts)
    errors = sum(p.errors for p in parts)
    return {"requests": len(latencies), "errors": errors,
            "rps": round((len(latencies) - errors) / seconds, 1) if seconds else 0.0,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else 0.0,
            "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000, 2)
            if latencies else 0.0}


async def run(*, quick: bool = False) -> dict[str, Any]:
    withdrawals, rounds, seconds = (2_000, 2, 1.0) if quick else (10_000, 4, 3.0)
    env = {"FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000000", "FOREXCRM_DB_POOL_SIZE": str(STAFF)}
    results: dict[str, list[LoadResult]] = {"anchor_without_approvals": [], "with_approvals": []}
    async with bench_services("withdrawal_approvers") as (db_url, redis_url):
        await _seed(asyncpg_dsn(db_url), withdrawals)
        async with api_process(db_url, redis_url, env, workers=2) as port:
            tokens = await _finance_tokens(db_url, f"http://127.0.0.1:{port}/graphql")

            def requester(query: str) -> Any:
                def request(i: int) -> bytes:
                    return build_request("127.0.0.1", port, "/graphql", orjson.dumps({"query": query}),
                                         {"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
                return request

            shapes = {"anchor_without_approvals": requester(PLAIN), "with_approvals": requester(NAMED)}
            for request in shapes.values():  # warm-up, not measured
                await run_load("127.0.0.1", port, request, concurrency=STAFF, seconds=0.5, ok=_named_ok)
            for r in range(rounds):  # alternating, so drift in machine load hits both alike
                order = list(shapes) if r % 2 == 0 else list(reversed(shapes))
                for name in order:
                    results[name].append(await run_load("127.0.0.1", port, shapes[name], concurrency=STAFF,
                                                        seconds=seconds, ok=_named_ok))
    anchor, named = _pooled(results["anchor_without_approvals"]), _pooled(results["with_approvals"])
    return {"withdrawals_waiting": withdrawals, "approvers": APPROVERS, "page_size": PAGE, "concurrency": STAFF,
            "api_workers": 2, "rounds": rounds, "anchor_without_approvals": anchor, "with_approvals": named,
            "rps_ratio": round(named["rps"] / anchor["rps"], 3) if anchor["rps"] else 0.0}


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run(quick=True))))
