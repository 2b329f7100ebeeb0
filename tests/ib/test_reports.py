"""Regulator-facing records of the IB network, and the IB CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from domain.audit import service as audit
from domain.ib import reports
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.ib.portal import partner
from domain.shared.pagination import PageRequest
from tests.ib.conftest import World
from tests.ib.test_engine import make_plan

D = Decimal


async def _regulator(world: World, category: str) -> list[tuple[str, str | None]]:
    async with world.factory() as s:
        page = await audit.list_events(s, audit.EventFilter(category=category), PageRequest(size=500))
    return [(e.action, e.entity_id) for e in page.items]


async def test_regulator_records_list_ib_relationships_and_plan_changes(world: World) -> None:
    # given a master IB, a sub-IB, a client attributed to it and a plan assigned to the sub-IB
    master = await world.ib()
    sub = await world.ib(master)
    plan_id = await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(1),))], ibs=(sub,))
    # then the relationships and the plan's changes are in the regulator-facing categories
    relationships = await _regulator(world, "ib_relationship")
    for ib in (master, sub):
        assert ("ib.applied", str(ib)) in relationships and ("ib.approved", str(ib)) in relationships
    plans = await _regulator(world, "commission_plan")
    assert ("ib.plan_created", str(plan_id)) in plans and ("ib.plan_version_added", str(plan_id)) in plans
    assert ("ib.plan_assigned", str(sub)) in plans


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_csv_exports_leave_empty_cells_empty_and_still_neutralise_formulas(world: World) -> None:
    # given an IB with a client that traded once (edge rows have empty cells)
    a = await world.ib()
    login = await world.account(await world.client_of(a))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(2),), max_total=D(2))], ibs=(a,))
    await world.trade([world.deal(login)])
    t0, t1 = world.day - timedelta(days=40), world.day + timedelta(days=1)
    # when both exports are taken
    async with world.factory() as s:
        export = _cells(await reports.regulator_export_csv(s, t0, t1))
        statement = _cells(await reports.statement_csv(s, await partner(s, a), t0, t1))
    # then no cell is a lone quote; empty cells are empty
    for rows in (export, statement):
        assert len(rows) > 1
        assert all(cell != "'" for row in rows for cell in row), rows
    edge = next(r for r in export[1:] if r[0] == str(a) and r[5] == "")
    assert edge[1] == "" and edge[3] == "" and set(edge[6:]) == {""}
    # and a text that a spreadsheet would run as a formula is still neutralised
    assert _cells(reports._csv(("x", "y", "z"), [["=1+1", "", "-2"]]))[1] == ["'=1+1", "", "'-2"]
