"""Subscriptions at scale on one API process, beside a bare Starlette WebSocket broadcast.

Broadcast: N subscribers of `announcementPosted` (N = 10,000; each its own user, socket and live
session) on one `forexcrm api` process, and N sockets on a bare Starlette broadcast of the same
payload (bench/ws_anchor.py) in another; one event to all, in alternating rounds; delivery latency
from publishing the event (to Redis, as the outbox relay does) or from asking the anchor to send, to
arrival at each client. Clients run in separate load-generator processes (bench/ws_clients.py).
Memory per subscriber: each server's resident memory grown by holding its N sockets, over N.

Own events: N subscribers of `walletUpdated`, each a different user, while wallet events (the relay's
wire format) are published at 1,000 a second spread over the users: each must reach its owner
only (routed by user), all must arrive, and the lag from publishing to arrival is reported; keeping
up is shown by the lag of the second half of the events against the first (a process falling
behind lags more and more), the time to drain after the last one, and the API's CPU per event and
share of a core.
Targets (issue #17): broadcast p99 <= 2x the anchor's, <= 25 kB per subscriber, no wallet event lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
from redis.asyncio import Redis

from bench.harness import ROOT, api_process, bench_services, stop_process
from domain.events.hub import Event
from domain.identity.jwt_tokens import issue_access_token
from domain.ledger.posting import TOPIC_WALLET_UPDATED
from domain.shared.db import asyncpg_dsn, normalise_database_url
from domain.shared.settings import Settings
from sandbox.serving import free_port
from schema.node import global_id

BROADCAST = "subscription { announcementPosted { id databaseId title body severity createdAt } }"
WALLET = "subscription { walletUpdated { databaseId balance available } }"
ANNOUNCEMENT_TOPIC = "announcement.posted"
LOADGENS = 2  # per server: the machine has 2 cores


async def run(*, quick: bool = False) -> dict[str, Any]:
    n = 200 if quick else 10_000
    rounds = 2 if quick else 4  # even: each side goes first as often
    rate, seconds = 1_000, (1.0 if quick else 10.0)
    secret = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex
    async with bench_services("subscriptions") as (db_url, redis_url):
        sessions = await _sessions(db_url, n)
        pids: list[int] = []
        redis = Redis.from_url(redis_url)
        tokens_file = ""
        try:
            async with (_anchor() as (anchor_port, anchor_pid),
                        api_process(db_url, redis_url, {"FOREXCRM_SECRET_KEY": secret}, pids=pids) as port):
                settings = Settings(secret_key=secret, port=port)  # the API's issuer follows its port
                users = [(uid, issue_access_token(settings, uid, sid)) for uid, sid in sessions]
                with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as fh:
                    fh.write("\n".join(token for _, token in users))
                tokens_file = fh.name
                broadcast = await _broadcast(redis, settings, port, anchor_port, pids[0], anchor_pid, tokens_file,
                                             n, rounds)
                own = await _own_events(redis, settings, port, pids[0], tokens_file, users, rate, seconds)
        finally:
            await redis.aclose()
            if tokens_file:
                os.unlink(tokens_file)
    return {"subscribers": n, **broadcast, "own_wallet_events": own,
            "note": "loopback, 2 cores shared by servers and load generators: ratios, not absolutes"}


# -- broadcast


async def _broadcast(redis: Redis, settings: Settings, port: int, anchor_port: int, api_pid: int, anchor_pid: int,
                     tokens_file: str, n: int, rounds: int) -> dict[str, Any]:
    share = n // LOADGENS
    # The anchor answers a broadcast once it has written to every socket: seconds on a busy machine.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{anchor_port}", timeout=120) as anchor_http:
        await _settle()
        before = {"graphql": _rss_kb(api_pid), "anchor": _rss_kb(anchor_pid)}
        async with (_loadgens([["--url", f"ws://127.0.0.1:{port}/graphql", "--graphql", "--query", BROADCAST,
                                "--key", "databaseId", "--tokens", tokens_file, "--first", str(i * share),
                                "--count", str(share)] for i in range(LOADGENS)]) as graphql,
                    _loadgens([["--url", f"ws://127.0.0.1:{anchor_port}/ws", "--key", "databaseId",
                                "--count", str(share)] for _ in range(LOADGENS)]) as anchor):
            sequence = iter(range(1, 1 << 30))

            async def publish(number: int) -> None:
                event = Event(number, ANNOUNCEMENT_TOPIC, _announcement(number), datetime.now(UTC).isoformat())
                await redis.publish(settings.channel_prefix + ANNOUNCEMENT_TOPIC, event.to_json())

            async def send_anchor(number: int) -> None:
                payload = _announcement(number)
                await anchor_http.post("/broadcast", content=orjson.dumps({"id": "1", "type": "next", "payload": {
                    "data": {"announcementPosted": {
                        "id": global_id("Announcement", payload["id"]), "databaseId": str(payload["id"]),
                        "title": payload["title"], "body": payload["body"],
                        "severity": "INFO", "createdAt": payload["created_at"]}}}}))

            senders = {"graphql": (graphql, publish), "anchor": (anchor, send_anchor)}
            await _until_subscribed(f"http://127.0.0.1:{port}/metrics", "forexcrm_subscribers ", n)
            await _until_subscribed(f"http://127.0.0.1:{anchor_port}/ready", "", n)
            for group, send in senders.values():  # every socket streams
                number = next(sequence)
                await send(number)
                await _arrivals(group, number, n, 120.0)
            await _settle()
            after = {"graphql": _rss_kb(api_pid), "anchor": _rss_kb(anchor_pid)}
            latencies: dict[str, list[float]] = {"graphql": [], "anchor": []}
            for r in range(rounds):
                for side in (("anchor", "graphql") if r % 2 == 0 else ("graphql", "anchor")):
                    group, send = senders[side]
                    number = next(sequence)
                    started = time.monotonic()
                    await send(number)
                    latencies[side] += [t - started for t, _, _ in await _arrivals(group, number, n, 60.0)]
                    await asyncio.sleep(0.3)
    figures = {side: _percentiles(latencies[side], expected=n * rounds) for side in latencies}
    per_subscriber = {side: round((after[side] - before[side]) / n, 1) for side in after}
    return {
        "broadcast": {"graphql": {**figures["graphql"], "kb_per_subscriber": per_subscriber["graphql"]},
                      "anchor_bare_starlette": {**figures["anchor"], "kb_per_subscriber": per_subscriber["anchor"]},
                      "rounds": rounds, "sockets_reopened": sum(g.retried for g in graphql + anchor),
                      "p99_vs_anchor": _ratio(figures["graphql"]["p99_ms"], figures["anchor"]["p99_ms"]),
                      "p50_vs_anchor": _ratio(figures["graphql"]["p50_ms"], figures["anchor"]["p50_ms"])},
    }


def _announcement(number: int) -> dict[str, Any]:
    return {"id": number, "title": "Trading hours change on Friday",
            "body": "Index CFDs close one hour early on Friday; open positions are kept.", "severity": "info",
            "created_at": "2026-12-04T08:00:00+00:00"}


# -- own events


async def _own_events(redis: Redis, settings: Settings, port: int, api_pid: int, tokens_file: str,
                      users: list[tuple[int, str]], rate: int, seconds: float) -> dict[str, Any]:
    n = len(users)
    share = n // LOADGENS
    channel = settings.channel_prefix + TOPIC_WALLET_UPDATED
    published: dict[int, float] = {}
    owner: dict[int, int] = {}
    counter = iter(range(1, 1 << 40))

    def wire(user_id: int) -> tuple[int, bytes]:
        seq = next(counter)
        balance = f"{seq}.00"
        event = Event(seq, TOPIC_WALLET_UPDATED, {"user_id": user_id, "wallet_id": seq, "currency": "USD",
                                                  "balance": balance, "held": "0", "available": balance},
                      "2026-12-04T08:00:00+00:00")
        return seq, event.to_json()

    async with _loadgens([["--url", f"ws://127.0.0.1:{port}/graphql", "--graphql", "--query", WALLET,
                           "--key", "databaseId", "--tokens", tokens_file, "--first", str(i * share),
                           "--count", str(share)] for i in range(LOADGENS)]) as group:
        await _until_subscribed(f"http://127.0.0.1:{port}/metrics", "forexcrm_subscribers ", share * LOADGENS)
        await _collect(group, 1 << 40, 1.0)
        per_tick, tick = max(1, rate // 100), 0.01
        # What holding the sockets costs with no event at all (each live session's periodic re-read,
        # keep-alive pings), over as long as the events will take: the events' own cost is the rest.
        idle_started, idle_cpu = time.monotonic(), _cpu_s(api_pid)
        await asyncio.sleep(seconds)
        idle_share = (_cpu_s(api_pid) - idle_cpu) / (time.monotonic() - idle_started)
        cpu_before = _cpu_s(api_pid)
        started = time.monotonic()
        ticks = int(seconds / tick)
        for i in range(ticks):
            async with redis.pipeline(transaction=False) as pipe:
                now = time.monotonic()
                for j in range(per_tick):
                    user_id = users[(i * per_tick + j) % (share * LOADGENS)][0]
                    seq, raw = wire(user_id)
                    published[seq], owner[seq] = now, user_id
                    pipe.publish(channel, raw)
                await pipe.execute()
            delay = started + (i + 1) * tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        publishing_s = time.monotonic() - started
        published_at = time.monotonic()
        arrivals = await _collect(group, len(published), 60.0)
        cpu_s = _cpu_s(api_pid) - cpu_before  # publishing and draining: every event's whole cost
        busy_s = max(publishing_s, time.monotonic() - started)
    lags = [t - published[int(key)] for t, key, _ in arrivals if int(key) in published]
    # Falling behind shows as a lag that grows while events keep coming: compare the two halves.
    half = sorted(published)[len(published) // 2]
    early = [t - published[int(key)] for t, key, _ in arrivals if int(key) < half]
    late = [t - published[int(key)] for t, key, _ in arrivals if int(key) >= half]
    last = max((t for t, _, _ in arrivals), default=published_at)
    delivered = {int(key) for _, key, _ in arrivals}
    # Socket i of load generator g is user i + g * share: each event must reach its owner's socket only.
    strangers = sum(1 for g, gen in enumerate(group) for _, key, i in gen.last
                    if owner.get(int(key)) != users[g * share + i][0])
    return {"sockets_reopened": sum(g.retried for g in group),
            "published": len(published), "delivered": len(lags), "missing": len(set(published) - delivered),
            "duplicates": len(lags) - len(delivered & set(published)), "to_someone_else": strangers,
            "rate_per_s": round(len(published) / publishing_s, 1), **_percentiles(lags, expected=len(published)),
            "lag_p50_first_half_ms": _percentiles(early, expected=0)["p50_ms"],
            "lag_p50_second_half_ms": _percentiles(late, expected=0)["p50_ms"],
            "drained_ms_after_last_publish": round(max(0.0, last - published_at) * 1000, 1),
            # The share of one core the API was kept busy over publishing and draining (below 1: it
            # keeps up, the rest of the core is headroom), the share holding the sockets takes with
            # no event, and the CPU per event over that idle cost.
            "api_core_share": round(cpu_s / busy_s, 2), "api_idle_core_share": round(idle_share, 2),
            "api_cpu_us_per_event": round(max(0.0, cpu_s - idle_share * busy_s) / max(1, len(published)) * 1e6, 1)}


# -- helpers


async def _sessions(db_url: str, n: int) -> list[tuple[int, int]]:
    """N client users, each signed in once: (user id, session id). Inserted in bulk, as the
    register mutation's password hashing would take minutes for 10,000."""
    conn = await asyncpg.connect(asyncpg_dsn(normalise_database_url(db_url)))
    try:
        tag = uuid.uuid4().hex[:8]
        rows = await conn.fetch(
            """WITH u AS (INSERT INTO users (email, email_normalized, password_hash, display_name, is_client,
                                             is_staff, is_ib, status, password_changed_at)
                          SELECT e, e, NULL, 'Bench', true, false, false, 'active', now()
                          FROM (SELECT 'sub-' || $1 || '-' || g || '@bench.example' AS e
                                FROM generate_series(1, $2::int) g) x RETURNING id)
               INSERT INTO auth_sessions (user_id, device) SELECT id, 'bench' FROM u RETURNING id, user_id""",
            tag, n)
    finally:
        await conn.close()
    return [(r["user_id"], r["id"]) for r in rows]


@contextlib.asynccontextmanager
async def _anchor() -> AsyncIterator[tuple[int, int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.ws_anchor", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                assert proc.poll() is None, "the anchor exited"
                await asyncio.sleep(0.1)
        yield port, proc.pid
    finally:
        stop_process(proc)


class LoadGen:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.last: list[tuple[float, Any, int]] = []  # what the last collect brought
        self.retried = 0  # sockets it opened again after the server closed them before they subscribed

    async def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a load generator exited on {command!r}")
        answer: dict[str, Any] = orjson.loads(line)
        return answer


@contextlib.asynccontextmanager
async def _loadgens(arguments: list[list[str]]) -> AsyncIterator[list[LoadGen]]:
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.ws_clients", *args, cwd=ROOT,
                                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=2**26)
             for args in arguments]
    group = [LoadGen(p) for p in procs]
    try:
        for g, answer in zip(group, await asyncio.gather(*(g.ask("connect") for g in group)), strict=True):
            g.retried = int(answer.get("retried", 0))
        yield group
    finally:
        for proc in procs:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b"quit\n")
                proc.stdin.close()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _until_subscribed(url: str, prefix: str, expected: int) -> None:
    """Wait until the server holds `expected` subscriptions (a line of its /metrics, or the anchor's
    /ready): a subscription registers with the hub after its subscribe message is handled."""
    async with httpx.AsyncClient(timeout=60) as client:  # a server busy accepting sockets answers slowly
        for _ in range(600):
            text = (await client.get(url)).text
            line = next((ln for ln in text.splitlines() if ln.startswith(prefix)), "0") if prefix else text
            if float(line.removeprefix(prefix) or 0) >= expected:
                return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never reached {expected} subscriptions")


async def _collect(group: list[LoadGen], count: int, timeout: float) -> list[tuple[float, Any, int]]:
    """Every load generator's arrivals (each generator's also kept as its `last`); `count` is the
    total expected, split evenly."""
    each = -(-count // len(group)) if count < (1 << 39) else count
    answers = await asyncio.gather(*(g.ask(f"collect {each} {timeout}") for g in group))
    for g, answer in zip(group, answers, strict=True):
        g.last = [(float(t), key, int(i)) for t, key, i in answer["arrivals"]]
    return [a for g in group for a in g.last]


async def _arrivals(group: list[LoadGen], number: int, n: int, timeout: float) -> list[tuple[float, Any, int]]:
    """The arrivals of broadcast `number` (other, stray ones are left out)."""
    return [a for a in await _collect(group, n, timeout) if int(a[1]) == number]


async def _settle() -> None:
    await asyncio.sleep(1.0)


def _cpu_s(pid: int) -> float:
    """A process's user and system CPU time so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _percentiles(seconds: list[float], *, expected: int) -> dict[str, Any]:
    ordered = sorted(seconds)
    if not ordered:
        return {"delivered": 0, "expected": expected, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {"delivered": len(ordered), "expected": expected,
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0
