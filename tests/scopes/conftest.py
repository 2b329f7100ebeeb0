"""The scope matrix runs every root operation for real with sample arguments, staff mutations
included: it works in a database of its own, so what those runs change never meets another suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from domain.shared.settings import Settings
from tests.conftest import TestServices, fresh_database, suite_runtime, suite_settings


@pytest.fixture(scope="session")
def services(base_urls: tuple[str, str], testrun_uid: str) -> Iterator[TestServices]:
    yield from fresh_database(base_urls, testrun_uid, suite="scopes")


@pytest.fixture(scope="session")
def settings(services: TestServices, testrun_uid: str) -> Settings:
    return suite_settings(services, testrun_uid)


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Any]:
    async for rt in suite_runtime(settings):
        yield rt
