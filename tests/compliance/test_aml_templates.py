"""Every template raises its planted pattern and leaves ordinary clients alone, measured on a small
seeded population (bench/aml_population.py) through the test run (or, for scheduled templates, every
client scored as of the run's end), as compliance would before going live. The population's history sits in 2001, away from every other test's payments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.aml_population import raised_users, seed
from domain.compliance.aml.rules import compile_document
from domain.compliance.aml.templates import TEMPLATES
from domain.shared.db import driver

BASE = datetime(2001, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def population(runtime: Any) -> Any:
    factory = runtime.services.session_factory
    async with factory() as s:
        conn = await driver(s)
        await s.rollback()
        return await seed(conn, tag=uuid.uuid4().hex[:5], base=BASE, ordinary=300, planted_each=3, payments_each=12)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.key)
async def test_template_raises_its_planted_pattern_and_no_ordinary_client(
        template: Any, population: Any, session_factory: Any) -> None:
    async with session_factory() as s, s.begin():
        flagged = await raised_users(s, compile_document(template.document), since=BASE - timedelta(days=130),
                                     until=BASE + timedelta(days=1))
    mine = flagged & (population.ordinary | set().union(*population.planted.values()))
    assert population.planted[template.key] <= mine  # recall 1.0
    assert mine & population.ordinary == set()
    others = set().union(*(u for k, u in population.planted.items() if k != template.key))
    assert mine & others == set()  # precision 1.0 on this population
