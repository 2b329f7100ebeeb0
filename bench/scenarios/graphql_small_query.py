"""GraphQL throughput and latency for a small query at 32 concurrent clients, beside a plain
Starlette JSON endpoint serving the same payload in the same API process (the anchor)."""

from __future__ import annotations

from typing import Any

import orjson

from bench.harness import api_process, bench_services
from bench.loadgen import build_request, run_load

QUERY = "query Small { apiVersion serverTime }"


async def run(*, quick: bool = False) -> dict[str, Any]:
    seconds = 2.0 if quick else 10.0
    concurrency = 32
    async with bench_services("graphql_small") as (db_url, redis_url), api_process(db_url, redis_url) as port:
        gql = build_request("127.0.0.1", port, "/graphql",
                            orjson.dumps({"query": QUERY, "operationName": "Small"}))
        anchor = build_request("127.0.0.1", port, "/bench/anchor", None)
        anchor_result = await run_load("127.0.0.1", port, anchor, concurrency=concurrency, seconds=seconds)
        graphql_result = await run_load("127.0.0.1", port, gql, concurrency=concurrency, seconds=seconds)
    ratio = graphql_result.rps / anchor_result.rps if anchor_result.rps else 0.0
    return {
        "concurrency": concurrency,
        "graphql": graphql_result.as_dict(),
        "anchor_plain_starlette": anchor_result.as_dict(),
        "ratio": round(ratio, 3),
    }
