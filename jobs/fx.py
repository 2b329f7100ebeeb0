"""FX jobs: refresh the configured source's reference rates (cron; staff also refresh on demand)."""

from __future__ import annotations

from typing import Any

from arq import cron

from domain.fx import rates
from domain.fx.port import FxSettings
from domain.shared.actor import system_actor
from domain.shared.settings import Settings

WorkerCtx = dict[str, Any]


async def refresh_fx_rates(ctx: WorkerCtx) -> dict[str, Any]:
    snapshot = await rates.refresh(ctx["session_factory"], system_actor("fx.refresh_rates"))
    return {"source": snapshot.source, "count": len(snapshot.rates), "time": snapshot.time.isoformat()}


FUNCTIONS: list[Any] = [refresh_fx_rates]


def cron_jobs(settings: Settings) -> list[Any]:
    minutes = {int(m) for m in FxSettings().refresh_minutes.split(",") if m.strip()}
    return [cron(refresh_fx_rates, minute=minutes, second={0}, unique=True)]  # type: ignore[arg-type]
