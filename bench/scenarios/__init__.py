"""Registered benchmark scenarios: name -> async callable(quick: bool) -> dict of figures."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from bench.scenarios.graphql_small_query import graphql_small_query

Scenario = Callable[..., Coroutine[Any, Any, dict[str, Any]]]

SCENARIOS: dict[str, Scenario] = {
    "graphql_small_query": graphql_small_query,
}
