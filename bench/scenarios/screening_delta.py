"""Delta re-screening (domain/compliance/rescreen.py, as the worker executes it): every eligible client of a
population screened against a 1,000-entity change of a real sanctions list, and the same run's figures against an
anchor measured in the same run on the same database.

Population: `clients` active clients named as people are (given names and surnames of 22 origins from the
evaluation set's ordinary names, half the surnames drawn from 20,000 generated ones for a long tail), 50 of them
named as entities the change adds (planted: each of those entities must be found). List: OFAC's SDN list of
2024-05-03 (kept in the repository), loaded through `load_list`; then a new version with 500 entities added, 300
changed (an alias more) and 200 removed: one delta run over every client. The run builds the whole list's index
(part rarity) in the run, as a fresh worker does.

Anchor: the irreducible work of any delta screening, done the cheapest way: the same keyset scan of the same
clients (same statement, same batches), each name split into its parts (the matcher's own normalisation) and every
part looked up in a set of the delta's name parts (an exact-token prefilter: no fuzziness, no scoring, no writes).
ratio = anchor seconds / run seconds (1.0 would mean the matcher costs nothing beyond reading and tokenising);
cpu_ratio the same over this process's CPU time, which a loaded machine distorts less than wall time.
Target: <= 60 s for 100,000 clients."""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import secrets
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.harness import bench_services
from domain.compliance import lists, rescreen, synthetic
from domain.compliance.evaluation import DATA, SDN
from domain.compliance.matching import parts
from domain.compliance.screening import queries_of
from domain.shared.actor import system_actor
from domain.shared.db import asyncpg_dsn, create_engine, create_session_factory, driver, in_transaction
from domain.shared.settings import Settings

ACTOR = system_actor("bench-rescreen")
TARGET_S = 60.0
PLANTED = 50


def _name_pools() -> tuple[list[str], list[str]]:
    given: set[str] = set()
    family: set[str] = set()
    text = (Path(DATA) / "unlisted.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    for row in rows:
        words = row["name"].split()
        if len(words) >= 2:
            given.add(words[0])
            family.add(words[-1])
    return sorted(given), sorted(family)


def _ftm(entities: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in entities)


def _sdn_as_ftm() -> list[dict[str, Any]]:
    """The SDN list as FollowTheMoney lines (one format for both versions)."""
    found = []
    for e in lists.parse("ofac", gzip.decompress(SDN.read_bytes())):
        found.append({"id": e.entity_id, "schema": e.schema, "properties": {
            "name": list(e.names), "birthDate": list(e.birth_dates), "nationality": list(e.countries),
            "topics": list(e.topics)}})
    return found


async def _populate(conn: asyncpg.Connection, clients: int, planted: list[tuple[str, str]]) -> None:
    rng = random.Random(7)
    given, family = _name_pools()
    tail = [synthetic._word(rng, rng.choice((2, 3))).title() for _ in range(20_000)]
    names = list(planted) + [(rng.choice(given), rng.choice(family) if rng.random() < 0.5 else rng.choice(tail))
                             for _ in range(clients - len(planted))]
    rng.shuffle(names)  # planted clients spread over the id range
    await conn.execute("""
        INSERT INTO users (email, email_normalized, is_client)
        SELECT 'c' || g || '@bench.example', 'c' || g || '@bench.example', true FROM generate_series(1, $1) g
        ORDER BY g""", clients)
    await conn.execute("""
        INSERT INTO clients (user_id, status, first_name, last_name, profile, country, attribution, blocked_products)
        SELECT u.id, 'active', n.first, n.last, '{}'::jsonb, 'DE', '{}'::jsonb, '{}'
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM users) u
        JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(first, last, k) ON n.k = u.k
        ORDER BY u.id""", [f[:100] for f, _ in names], [la[:100] for _, la in names])
    await conn.execute("ANALYZE")


async def _anchor(conn: asyncpg.Connection, tokens: set[str]) -> tuple[float, int, int]:
    """Same scan, same batches; every name's parts looked up in the delta's part set. (seconds, clients, reached)."""
    started = time.perf_counter()
    after, upto, seen, reached = 0, 2**62, 0, 0
    while True:
        rows = await rescreen.client_batch(conn, after, upto, rescreen.BATCH)
        if not rows:
            break
        for r in rows:
            queries = queries_of(f"{r['first_name']} {r['last_name']}".strip(), r["date_of_birth"], r["country"],
                                 None)
            reached += any(p.canon in tokens for q in queries for p in parts(q.name))
        seen += len(rows)
        after = int(rows[-1]["id"])
    return time.perf_counter() - started, seen, reached


async def run(*, quick: bool = False) -> dict[str, Any]:
    clients = 10_000 if quick else 100_000
    settings = Settings(secret_key=secrets.token_hex(32))
    rng = random.Random(11)
    sdn = _sdn_as_ftm()
    added = [e for e in synthetic.entities(500, seed=4242)]
    for e in added:
        e["id"] = f"bench-added-{e['id']}"
    removed = {e["id"] for e in rng.sample(sdn, 200)}
    kept = [e for e in sdn if e["id"] not in removed]
    changed_ids = {e["id"] for e in rng.sample(kept, 300)}
    second = [({**e, "properties": {**e["properties"], "alias": [e["properties"]["name"][0] + " Jr"]}}
               if e["id"] in changed_ids else e) for e in kept] + added
    planted_entities = rng.sample(added, PLANTED)
    planted = []
    for e in planted_entities:
        words = str(e["properties"]["name"][0]).split()  # type: ignore[index]
        planted.append((words[0], " ".join(words[1:]) or words[0]))

    async with bench_services("screening_delta") as (db_url, _redis_url):
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            started = time.perf_counter()
            await _populate(conn, clients, planted)
            populate_s = time.perf_counter() - started
        finally:
            await conn.close()
        engine = create_engine(db_url, settings, pool_size=2)
        factory = create_session_factory(engine)
        try:
            first = await in_transaction(factory, lambda s: lists.load_list(
                s, ACTOR, name="ofac-sdn", fmt="ftm", data=_ftm(sdn)))
            assert first.run is not None
            async with factory() as s, s.begin():  # the first load's run is not the one measured
                await (await driver(s)).execute(
                    "UPDATE screening_runs SET status = 'completed', finished_at = now() WHERE id = $1", first.run.id)
            started = time.perf_counter()
            loaded = await in_transaction(factory, lambda s: lists.load_list(
                s, ACTOR, name="ofac-sdn", fmt="ftm", data=_ftm(second)))
            load_s = time.perf_counter() - started
            assert loaded.run is not None
            lists._CACHE.clear()  # a fresh worker: the whole list's index is built inside the run
            stats = rescreen.Stats()
            started, cpu = time.perf_counter(), time.process_time()
            done = await rescreen.execute(factory, ACTOR, loaded.run.id, stats=stats)
            run_s, run_cpu = time.perf_counter() - started, time.process_time() - cpu
            async with factory() as s:
                conn2 = await driver(s)
                found_planted = await conn2.fetchval(
                    "SELECT count(DISTINCT entity_id) FROM screening_results WHERE run_id = $1 "
                    "AND entity_id = ANY($2::text[])", loaded.run.id,
                    [str(e["id"]) for e in planted_entities])
                cases = await conn2.fetchval("SELECT count(*) FROM aml_cases")
                delta_tokens: set[str] = set()
                for r in await conn2.fetch("SELECT names FROM screening_entities WHERE entity_id = ANY($1::text[])",
                                           loaded.run.entity_ids):
                    for name in r["names"]:
                        delta_tokens.update(p.canon for p in parts(name))
                cpu = time.process_time()
                anchor_s, anchor_clients, reached = await _anchor(conn2, delta_tokens)
                anchor_cpu = time.process_time() - cpu
        finally:
            await engine.dispose()
    assert done is not None and done.status == "completed", done
    assert done.clients_done == done.clients_total == clients == anchor_clients, (done, anchor_clients)
    assert found_planted == PLANTED, f"{found_planted} of the {PLANTED} planted entities found"
    delta = loaded.delta
    return {
        "clients": clients, "list_entities": len(second),
        "delta": {"added": len(delta.added), "changed": len(delta.changed), "removed": len(delta.removed),
                  "unchanged": delta.unchanged},
        "populate_s": round(populate_s, 1), "import_s": round(load_s, 2),
        "run": {"seconds": round(run_s, 2), "clients_per_s": round(clients / run_s, 1),
                "client_cpu_s": round(run_cpu, 2), "searches": stats.searches,
                "hits_found": done.hits_found, "hits_delisted": done.hits_delisted, "cases": cases,
                "planted_entities_found": f"{found_planted}/{PLANTED}"},
        "anchor": {"seconds": round(anchor_s, 2), "clients_per_s": round(clients / anchor_s, 1),
                   "client_cpu_s": round(anchor_cpu, 2),
                   "clients_sharing_a_delta_part": reached,
                   "what": "same keyset scan and batches, names split into parts, exact set lookup of each part"},
        "ratio": round(anchor_s / run_s, 4), "cpu_ratio": round(anchor_cpu / run_cpu, 4),
        "target_s": TARGET_S, "within_target": run_s <= TARGET_S or quick,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
