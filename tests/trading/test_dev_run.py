"""The development run: simulator processes, their server rows, and the worker jobs over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arq.connections import RedisSettings, create_pool
from sqlalchemy import text

from jobs.trading import maintain_deal_partitions, pull_deals, pull_job_id, schedule_pulls
from sandbox.launcher import register_dev_servers, start_simulators
from tests.conftest import free_port


async def test_simulators_register_idempotently_and_jobs_pull_them(
    tmp_path: Path, session_factory: Any, settings: Any
) -> None:
    sims = start_simulators(tmp_path, count=1, base_port=free_port())
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    ctx: dict[str, Any] = {"session_factory": session_factory, "settings": settings, "redis": redis}
    try:
        await register_dev_servers(session_factory, sims, settings)
        await register_dev_servers(session_factory, sims, settings)
        async with session_factory() as session:
            rows = (await session.execute(text(
                "SELECT id, password_enc FROM trading_servers WHERE name = :n"), {"n": sims[0].name})).all()
        assert len(rows) == 1 and sims[0].password not in rows[0][1]
        server_id = rows[0][0]

        result = await pull_deals(ctx, server_id)
        assert result["error"] is None and result["inserted"] >= 13  # the population's 13 deposits at least

        # one pull per server at a time: the second enqueue under the same job id is refused
        assert await schedule_pulls(ctx) >= 1
        again = await redis.enqueue_job("pull_deals", server_id, _job_id=pull_job_id(settings, server_id),
                                        _queue_name=settings.queue_name)
        assert again is None
        assert await maintain_deal_partitions(ctx) == 0
    finally:
        for platform in ctx.get("trading_platforms", {}).values():
            await platform[1].aclose()
        await redis.aclose()
        for sim in sims:
            sim.terminate()
            sim.wait(timeout=10)
