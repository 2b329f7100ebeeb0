"""Who is calling: turns request credentials into an Actor (HTTP and WebSocket alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.shared.actor import ANONYMOUS, Actor
from schema.context import AppServices


async def authenticate(
    services: AppServices, *, headers: Mapping[str, str], cookies: Mapping[str, str],
    params: Mapping[str, Any] | None, ip: str | None, user_agent: str | None, request_id: str,
) -> Actor:
    return ANONYMOUS
