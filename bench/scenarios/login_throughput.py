"""Sign-in throughput through the GraphQL `login` mutation with Argon2id at the configured cost,
beside the bare Argon2 verification rate on the same machine in the same run (the floor: a login
can never be faster than one verification)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from bench.harness import api_process, bench_services
from bench.loadgen import build_request, run_load
from domain.identity.passwords import hasher
from domain.shared.settings import Settings

PASSWORD = "bench passphrase that is long 77"


def _argon2_rate(settings: Settings, seconds: float, threads: int) -> float:
    h = hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    stored = h.hash(PASSWORD)
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        n = 0
        while time.perf_counter() < deadline:
            h.verify(stored, PASSWORD)
            n += 1
        return n

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    return total / (time.perf_counter() - started)


async def run(*, quick: bool = False) -> dict[str, Any]:
    settings = Settings()
    seconds = 3.0 if quick else 10.0
    users = 8 if quick else 200
    concurrency = 8
    env = {"FOREXCRM_LOGIN_ATTEMPTS_PER_IP": "100000000", "FOREXCRM_LOGIN_ATTEMPTS_PER_ACCOUNT": "100000000"}
    async with bench_services("login") as (db_url, redis_url), api_process(db_url, redis_url, env) as port:
        emails = [f"bench-{i}@example.com" for i in range(users)]
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            async def reg(email: str) -> None:
                r = await client.post("/graphql", json={"query": "mutation($i: RegisterInput!) { register(input: $i)"
                                                        " { errors { code } } }",
                                                        "variables": {"i": {"email": email, "password": PASSWORD}}})
                assert r.json()["data"]["register"]["errors"] == [], r.text

            for batch in range(0, users, 8):
                await asyncio.gather(*(reg(e) for e in emails[batch:batch + 8]))
        body = orjson.dumps({"query": "mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code } } }",
                             "variables": {"i": {"email": emails[0], "password": PASSWORD}}})
        login = build_request("127.0.0.1", port, "/graphql", body)
        result = await run_load("127.0.0.1", port, login, concurrency=concurrency, seconds=seconds)
    floor = await asyncio.to_thread(_argon2_rate, settings, min(seconds, 5.0), 2)
    return {
        "argon2": {"time_cost": settings.argon2_time_cost, "memory_kib": settings.argon2_memory_kib,
                   "parallelism": settings.argon2_parallelism},
        "login": result.as_dict(),
        "anchor_argon2_verifications_per_s": round(floor, 1),
        "ratio": round(result.rps / floor, 3) if floor else 0.0,
    }
