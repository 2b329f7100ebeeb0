"""GraphQL throughput and latency for a small query at 32 concurrent clients, beside a plain
Starlette JSON endpoint serving the same payload in the same API process (the anchor), measured in
alternating rounds."""

from __future__ import annotations

from typing import Any

import orjson

from bench.harness import api_process, bench_services
from bench.loadgen import LoadResult, build_request, run_load

QUERY = "query Small { apiVersion serverTime }"


async def run(*, quick: bool = False) -> dict[str, Any]:
    """Rounds alternating the anchor and GraphQL (the order turning each round): the machine's speed
    drifts over a run, and each side should see the same drift."""
    rounds, seconds = (2, 1.0) if quick else (4, 2.5)  # even: each side goes first as often
    concurrency = 32
    results: dict[str, list[LoadResult]] = {"anchor": [], "graphql": []}
    async with bench_services("graphql_small") as (db_url, redis_url), api_process(db_url, redis_url) as port:
        requests = {"graphql": build_request("127.0.0.1", port, "/graphql",
                                             orjson.dumps({"query": QUERY, "operationName": "Small"})),
                    "anchor": build_request("127.0.0.1", port, "/bench/anchor", None)}
        for name in requests:  # warm-up, not measured
            await run_load("127.0.0.1", port, requests[name], concurrency=concurrency, seconds=1.0)
        for r in range(rounds):
            for name in (("anchor", "graphql") if r % 2 == 0 else ("graphql", "anchor")):
                results[name].append(await run_load("127.0.0.1", port, requests[name], concurrency=concurrency,
                                                     seconds=seconds, ok=answered))
    graphql, anchor = pooled(results["graphql"]), pooled(results["anchor"])
    return {
        "concurrency": concurrency,
        "rounds": rounds,
        "graphql": graphql,
        "anchor_plain_starlette": anchor,
        "per_round_rps": [{"anchor": round(a.rps, 1), "graphql": round(g.rps, 1)}
                          for a, g in zip(results["anchor"], results["graphql"], strict=True)],
        "ratio": round(graphql["rps"] / anchor["rps"], 3) if anchor["rps"] else 0.0,
    }


def answered(body: bytes) -> bool:
    reply = orjson.loads(body)
    return bool(reply.get("data")) and not reply.get("errors")


def pooled(parts: list[LoadResult]) -> dict[str, float]:
    latencies = sorted(t for p in parts for t in p.latencies)
    seconds = sum(p.seconds for p in parts)
    return {"requests": len(latencies), "errors": sum(p.errors for p in parts),
            "rps": round((len(latencies) - sum(p.errors for p in parts)) / seconds, 1) if seconds else 0.0,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else 0.0,
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2)
            if latencies else 0.0}
