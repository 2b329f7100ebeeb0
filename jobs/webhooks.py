"""Outbound webhooks: fan an event out to its endpoints, deliver each endpoint's queue in order, and sweep for
retries that fell due (the deferred job that should have run them is a convenience, the sweep the guarantee)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from arq import cron

from domain.shared.settings import Settings
from domain.webhooks.delivery import Deliverer, due_endpoints, fan_out
from domain.webhooks.guard import guarded_client


def _deliverer(ctx: dict[str, Any]) -> Deliverer:
    found = ctx.get("webhooks_deliverer")
    if found is None:
        settings: Settings = ctx["settings"]
        queue = settings.queue_name

        async def schedule(endpoint_id: int, when: datetime | None) -> None:
            """A retry falling due (one job per endpoint and time), or now: the rest of a long queue."""
            if when is None:
                await ctx["redis"].enqueue_job("webhooks_deliver", endpoint_id, _queue_name=queue)
                return
            await ctx["redis"].enqueue_job("webhooks_deliver", endpoint_id, _defer_until=when, _queue_name=queue,
                                           _job_id=f"webhook:{queue}:{endpoint_id}:{int(when.timestamp() * 1000)}")

        found = Deliverer(ctx["session_factory"], settings, ctx["redis"], guarded_client(settings), schedule)
        ctx["webhooks_deliverer"] = found
    return found


async def _enqueue(ctx: dict[str, Any], endpoint_ids: list[int]) -> None:
    queue = ctx["settings"].queue_name
    for endpoint_id in endpoint_ids:
        await ctx["redis"].enqueue_job("webhooks_deliver", endpoint_id, _queue_name=queue)


async def webhooks_fan_out(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> int:
    endpoints = await fan_out(ctx["session_factory"], ctx["redis"], ctx["settings"].redis_namespace)
    await _enqueue(ctx, sorted(endpoints))
    return len(endpoints)


async def webhooks_kick(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> None:
    await _enqueue(ctx, [int(payload["endpoint_id"])])


async def webhooks_deliver(ctx: dict[str, Any], endpoint_id: int) -> int:
    return await _deliverer(ctx).run(endpoint_id)


async def webhooks_sweep(ctx: dict[str, Any]) -> None:
    """Messages a crashed fan-out left, and deliveries due whose deferred job was lost."""
    await fan_out(ctx["session_factory"], ctx["redis"], ctx["settings"].redis_namespace)
    await _enqueue(ctx, await due_endpoints(ctx["session_factory"]))


FUNCTIONS = [webhooks_fan_out, webhooks_kick, webhooks_deliver, webhooks_sweep]


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(webhooks_sweep, second={0, 30}, unique=True)]
