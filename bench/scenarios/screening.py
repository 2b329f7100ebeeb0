"""Sanctions screening: latency of one name against 50,000 generated FollowTheMoney entities, and
recall on transliterated, reordered, accented and misspelt variants of listed names.

No database anchor applies (the matcher runs in memory); the target is p95 <= 100 ms."""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from domain.compliance import synthetic
from domain.compliance.lists import parse
from domain.compliance.matching import MATCHER_VERSION, MatchIndex, Query

TARGET_P95_MS = 100.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(*, quick: bool) -> dict[str, Any]:
    entities = 50_000
    sample = 60 if quick else 300
    data = b"\n".join(orjson.dumps(e) for e in synthetic.entities(entities))
    started = time.perf_counter()
    index = MatchIndex.build(parse("ftm", data))
    build_s = time.perf_counter() - started
    rng = random.Random(99)
    latencies: list[float] = []
    found: dict[str, list[bool]] = {}
    for entity in rng.sample(index.entities, sample):
        for kind, variant in synthetic.variants(entity.names[0], rng).items():
            t = time.perf_counter()
            matches = index.search(Query(variant))
            latencies.append((time.perf_counter() - t) * 1000)
            found.setdefault(kind, []).append(any(m.entity.entity_id == entity.entity_id for m in matches))
    # Names not on the list: latency of the common case, and the false-positive rate.
    false_hits = 0
    for _ in range(sample):
        t = time.perf_counter()
        false_hits += bool(index.search(Query(f"{synthetic._word(rng, 3)} {synthetic._word(rng, 3)}x")))
        latencies.append((time.perf_counter() - t) * 1000)
    p95 = _pct(latencies, 0.95)
    return {
        "entities": entities, "matcher": MATCHER_VERSION, "queries": len(latencies),
        "index_build_s": round(build_s, 2),
        "latency_ms": {"p50": round(_pct(latencies, 0.5), 2), "p95": round(p95, 2),
                       "p99": round(_pct(latencies, 0.99), 2)},
        "recall": {k: round(sum(v) / len(v), 4) for k, v in found.items()},
        "false_positive_rate": round(false_hits / sample, 4),
        "anchor": None, "target_p95_ms": TARGET_P95_MS, "ratio": round(TARGET_P95_MS / p95, 3) if p95 else None,
    }
