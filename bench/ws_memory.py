"""Where a subscriber's memory goes: the API (or the bare anchor) in this process under tracemalloc,
N sockets held by a load generator (bench/ws_clients.py), and the allocations grown by holding them,
per socket, by where they were made.

    python -m bench.ws_memory [--count 1000] [--anchor] [--wallet] [--top 40] [--depth 1]

Needs DATABASE_URL and REDIS_URL (as the benches); uses the database bench_ws_memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from typing import Any

import uvicorn

from api.http_protocol import uvicorn_options
from bench.harness import ROOT, bench_services
from bench.scenarios.subscriptions import BROADCAST, WALLET, _sessions
from domain.identity.jwt_tokens import issue_access_token
from domain.shared.settings import Settings
from sandbox.serving import free_port

AT_ONCE = [10]  # sockets a load generator opens at a time (tracemalloc slows the server down)


async def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


async def probe(args: argparse.Namespace) -> None:
    n = args.count
    async with bench_services("ws_memory") as (db_url, redis_url):
        port = free_port()
        secret = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex
        settings = Settings(secret_key=secret, port=port, log_level="WARNING")
        if args.anchor:
            from bench.ws_anchor import anchor_app

            app: Any = anchor_app()
            options = {**uvicorn_options(settings), "lifespan": "off"}
            url, extra = f"ws://127.0.0.1:{port}/ws", []
        else:
            from api.app import create_app

            app = create_app(settings, db_url, redis_url)
            options = uvicorn_options(settings)
            sessions = await _sessions(db_url, n)
            tokens = [issue_access_token(settings, uid, sid) for uid, sid in sessions]
            with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as fh:
                fh.write("\n".join(tokens))
            url = f"ws://127.0.0.1:{port}/graphql"
            extra = ["--graphql", "--query", WALLET if args.wallet else BROADCAST, "--tokens", fh.name,
                     "--key", "databaseId" if args.wallet else "id"]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        # One socket first: what every later one shares (caches, compiled documents) is made here.
        await _hold(url, extra, 1, lambda _: asyncio.sleep(1.0))
        gc.collect()
        tracemalloc.start(args.depth)
        before, rss_before = tracemalloc.take_snapshot(), await _rss_kb()
        if args.profile:
            tracemalloc.stop()

        async def measure(clients: Any) -> None:
            await asyncio.sleep(2.0)
            if args.profile:
                await _profile_broadcast(settings, redis_url, clients, n, args.top)
                return
            gc.collect()
            after, rss_after = tracemalloc.take_snapshot(), await _rss_kb()
            stats = after.compare_to(before, "traceback" if args.depth > 1 else "lineno")
            total = sum(s.size_diff for s in stats)
            print(f"sockets {n}: traced {total / n / 1024:.2f} kB/socket, "
                  f"rss {(rss_after - rss_before) / n:.2f} kB/socket", flush=True)
            if args.classify:
                _classify(stats, n, args.only, args.top)
                return
            for s in stats[:args.top]:
                where = " <- ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(s.traceback))
                print(f"{s.size_diff / n:9.1f} B {s.count_diff / n:6.2f} blocks  {where}")

        await _hold(url, extra, n, measure)
        server.should_exit = True
        await serving


def _short(filename: str) -> str:
    return os.path.relpath(filename, ROOT) if filename.startswith(str(ROOT)) else filename.split("site-packages/")[-1]


async def _profile_broadcast(settings: Settings, redis_url: str, clients: Any, n: int, top: int) -> None:
    """One announcement to every subscriber under cProfile: where a delivery's CPU goes."""
    import cProfile
    import pstats
    from datetime import UTC, datetime

    from redis.asyncio import Redis

    from bench.scenarios.subscriptions import ANNOUNCEMENT_TOPIC, _announcement
    from domain.events.hub import Event

    redis = Redis.from_url(redis_url)
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began: list[float] = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - began[0])

    gc.callbacks.append(timed)
    for number in (1, 2):  # the first warms up (documents, plans), the second is profiled
        profile = cProfile.Profile()
        if number == 2:
            profile.enable()
        started = time.perf_counter()
        cpu = time.process_time()
        event = Event(number, ANNOUNCEMENT_TOPIC, _announcement(number), datetime.now(UTC).isoformat())
        await redis.publish(settings.channel_prefix + ANNOUNCEMENT_TOPIC, event.to_json())
        clients.stdin.write(f"collect {n} 60\n".encode())
        await clients.stdin.drain()
        await clients.stdout.readline()
        profile.disable()
        print(f"event {number}: {(time.perf_counter() - started) * 1000:.0f} ms wall, "
              f"{(time.process_time() - cpu) / n * 1e6:.0f} us CPU per delivery, garbage collections "
              + ", ".join(f"gen{g} {len(p)}x {sum(p) * 1000:.0f} ms" for g, p in pauses.items()), flush=True)
        for p in pauses.values():
            p.clear()
    gc.callbacks.remove(timed)
    pstats.Stats(profile).sort_stats("tottime").print_stats(top)
    await redis.aclose()


async def _hold(url: str, extra: list[str], n: int, while_held: Any) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.ws_clients", "--url", url,
                                                "--count", str(n), "--at-once", str(AT_ONCE[0]), *extra, cwd=ROOT,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=2**26)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"connect\n")
    await proc.stdin.drain()
    await proc.stdout.readline()
    await while_held(proc)
    proc.stdin.write(b"quit\n")
    proc.stdin.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 30)
    await asyncio.sleep(1.0)


# Where an allocation belongs: its most recent frame in one of these (the standard library's are
# skipped: a queue or a task belongs to whoever made it).
_OWNERS = (("hub", "domain/events/"), ("live session", "schema/live_session.py"),
           ("events", "schema/events.py"), ("resolvers", "/resolvers.py"), ("schema context", "schema/context.py"),
           ("graphql-core", "site-packages/graphql/"), ("strawberry ws handler", "graphql_transport_ws/"),
           ("strawberry schema", "strawberry/schema/"), ("strawberry", "strawberry/"),
           ("graphql view", "api/graphql_view.py"), ("auth", "api/auth.py"), ("identity", "domain/identity/"),
           ("middleware", "api/middleware.py"), ("app", "api/app.py"), ("starlette", "starlette/"),
           ("websockets", "site-packages/websockets/"), ("uvicorn", "uvicorn/"), ("anchor", "bench/ws_anchor"))


def _classify(stats: list[Any], n: int, only: str | None, top: int) -> None:
    """Totals by component; with `only` (components, comma-separated), each one's allocation sites."""
    wanted = set(only.split(",")) if only else set()
    totals: dict[str, float] = {}
    sites: dict[str, dict[str, float]] = {}
    for s in stats:
        owner = "other"
        for frame in reversed(s.traceback):  # most recent first
            found = next((name for name, key in _OWNERS if key in frame.filename), None)
            if found is not None:
                owner = found
                break
        totals[owner] = totals.get(owner, 0) + s.size_diff
        if owner in wanted:
            where = " <- ".join(f"{f.filename.split('/')[-1]}:{f.lineno}" for f in list(reversed(s.traceback))[:6])
            mine = sites.setdefault(owner, {})
            mine[where] = mine.get(where, 0) + s.size_diff
    for owner, size in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{size / n:9.1f} B  {owner}")
    for owner, places in sites.items():
        print(f"-- {owner}")
        for where, size in sorted(places.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{size / n:9.1f} B  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_memory")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--anchor", action="store_true", help="the bare Starlette broadcast instead of the API")
    parser.add_argument("--wallet", action="store_true", help="subscribe to walletUpdated (own events)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--depth", type=int, default=1, help="frames per allocation site")
    parser.add_argument("--classify", action="store_true", help="totals by component (use --depth 15)")
    parser.add_argument("--profile", action="store_true", help="cProfile one broadcast to every socket instead")
    parser.add_argument("--only", help="with --classify: these components' allocation sites (comma-separated)")
    parser.add_argument("--at-once", type=int, default=10, help="sockets opening at a time")
    args = parser.parse_args()
    AT_ONCE[0] = args.at_once
    asyncio.run(probe(args))


if __name__ == "__main__":
    main()
