"""Benchmark scenarios, discovered: each module here defines `async def run(*, quick: bool) -> dict`
and is registered under its module name."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Coroutine
from typing import Any

Scenario = Callable[..., Coroutine[Any, Any, dict[str, Any]]]


def _discover() -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[info.name] = run
    return found


SCENARIOS: dict[str, Scenario] = _discover()
