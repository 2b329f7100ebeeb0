"""Every job the code names is one the worker registers, and the worker's counts reach Redis."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path
from typing import Any

from arq import Retry, func
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker

from domain.shared.settings import Settings
from jobs.stats import WorkerStats, read_queue_stats, running_key, stats_key
from jobs.worker import job_functions, job_name
from tests.conftest import ROOT, unique

SOURCES = ("api", "domain", "jobs", "schema")
# The relay forwards the names `emit` recorded: those are checked where they are emitted.
FORWARDERS = {Path("jobs/relay.py")}


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def named_jobs(root: Path = ROOT, folders: tuple[str, ...] = SOURCES) -> dict[str, list[str]]:
    """Job names in `emit(..., job="...")` and `enqueue_job("...")` calls, with where they appear.
    A job name that is not a literal is itself a finding: the registry could not be checked."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if path.relative_to(root) in FORWARDERS:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = _called_name(node)
                where = f"{path.relative_to(root)}:{node.lineno}"
                if name == "emit":
                    values = [kw.value for kw in node.keywords if kw.arg == "job"]
                elif name == "enqueue_job" and node.args:
                    values = [node.args[0]]
                else:
                    continue
                for value in values:
                    if isinstance(value, ast.Constant) and value.value is None:
                        continue
                    assert isinstance(value, ast.Constant) and isinstance(value.value, str), \
                        f"{where}: the job name must be a string literal"
                    found.setdefault(value.value, []).append(where)
    return found


def test_every_job_named_in_the_code_is_registered_by_the_worker() -> None:
    registered = {job_name(f) for f in job_functions()}
    named = named_jobs()

    # The scan itself sees the jobs we know are emitted (a broken scan must not pass vacuously).
    assert {"send_email", "deliver_notification", "open_initial_account", "rescreen_clients",
            "ib_process_deal_batch", "pull_deals"} <= set(named)
    missing = {name: where for name, where in named.items() if name not in registered}
    assert missing == {}, f"jobs named but not registered by jobs/worker.py: {missing}"


def test_the_scan_finds_an_unregistered_job(tmp_path: Path) -> None:
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "x.py").write_text(
        'async def f(s, r):\n    await emit(s, "t", {}, job="nobody_runs_this")\n'
        '    await outbox.emit(s, "t", {})\n    await r.enqueue_job("send_email", 1)\n')
    named = named_jobs(tmp_path, ("domain",))
    assert named == {"nobody_runs_this": ["domain/x.py:2"], "send_email": ["domain/x.py:4"]}
    assert "nobody_runs_this" not in {job_name(f) for f in job_functions()}


async def test_worker_stats_count_running_complete_failed_and_retried(settings: Settings) -> None:
    """A real arq worker on the real Redis queue (in this process, with jobs of the test's own), and the
    stats writer `forexcrm worker` runs beside it."""
    assert settings.redis_url
    queue = f"{settings.queue_name}:{unique('stats')}"
    release = asyncio.Event()

    async def slow(ctx: dict[str, Any]) -> str:
        await release.wait()
        return "done"

    async def flaky(ctx: dict[str, Any]) -> str:
        if ctx["job_try"] == 1:
            raise Retry(defer=0.1)
        return "second time"

    async def boom(ctx: dict[str, Any]) -> None:
        raise RuntimeError("expected in this test")

    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=queue)
    worker = Worker(functions=[func(slow, name="slow"), func(flaky, name="flaky"), func(boom, name="boom")], redis_pool=pool, queue_name=queue, handle_signals=False,
                    poll_delay=0.05, keep_result=5)
    stats = WorkerStats(worker, pool, queue, interval_s=0.05)
    task = asyncio.create_task(worker.async_run())
    stats.start()
    try:
        await pool.enqueue_job("slow", _job_id=unique("slow"))
        await pool.enqueue_job("flaky", _job_id=unique("flaky"))
        await pool.enqueue_job("boom", _job_id=unique("boom"))
        await pool.enqueue_job("slow", _job_id=unique("later"), _defer_by=3600)

        async def until(check: Any) -> Any:
            deadline = time.monotonic() + 10
            while not check(current := await read_queue_stats(pool, queue)):
                assert time.monotonic() < deadline, current
                await asyncio.sleep(0.05)
            return current

        now = await until(lambda s: s.running == 1 and s.retried == 1 and s.failed == 1 and s.complete == 1)
        assert (now.queued, now.deferred) == (0, 1)  # nothing waits; one job is for later
        release.set()
        done = await until(lambda s: s.running == 0 and s.complete == 2)
        assert (done.failed, done.retried) == (1, 1)
    finally:
        release.set()
        await stats.stop()
        task.cancel()
        await worker.close()
        assert await pool.hget(running_key(queue), stats.worker_id) is None  # type: ignore[misc]
        await pool.delete(queue, stats_key(queue), running_key(queue))
        await pool.aclose()


async def test_queue_stats_without_workers_show_the_backlog_and_forget_dead_workers(settings: Settings) -> None:
    assert settings.redis_url
    queue = f"{settings.queue_name}:{unique('backlog')}"
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=queue)
    try:
        await pool.enqueue_job("send_email", 1, _job_id=unique("a"))
        await pool.enqueue_job("send_email", 2, _job_id=unique("b"))
        await pool.enqueue_job("send_email", 3, _job_id=unique("c"), _defer_by=600)
        # A worker that stopped reporting a minute ago (killed: no final flush) and a live one.
        await pool.hset(running_key(queue), mapping={"dead": f"5 {time.time() - 60:.3f}",  # type: ignore[misc]
                                                     "live": f"1 {time.time() + 60:.3f}"})

        stats = await read_queue_stats(pool, queue)

        assert (stats.queued, stats.deferred, stats.running) == (1, 1, 1)  # two due, one of them running
        assert await pool.hkeys(running_key(queue)) == [b"live"]  # type: ignore[misc]
    finally:
        await pool.delete(queue, running_key(queue))
        await pool.aclose()
