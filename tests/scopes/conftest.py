"""The scope matrix runs every root operation for real with sample arguments, staff mutations
included: it works in a database of its own, so what those runs change never meets another suite.

Every fixture that holds a connection to that database is overridden here (a session fixture of
tests/conftest.py, once built by another file on the same worker, would still point at the shared
database), with small pools: the suite runs beside the rest of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from domain.shared.settings import Settings
from tests.conftest import LiveServer, TestServices, fresh_database, serve, suite_runtime, suite_settings


@pytest.fixture(scope="session")
def services(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[TestServices]:
    yield from fresh_database(base_urls, testrun_uid, suite="scopes")


@pytest.fixture(scope="session")
def settings(services: TestServices, testrun_uid: str) -> Settings:
    base = suite_settings(services, testrun_uid)
    return base.model_copy(update={"db_pool_size": 3, "db_max_overflow": 3,
                                   "channel_prefix": base.channel_prefix.replace(":events:", "-scopes:events:")})


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Any]:
    async for rt in suite_runtime(settings):
        yield rt


@pytest.fixture(scope="session")
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(settings) as live:
        yield live
