"""Staff configuration through the schema: sales-assignment rules and questionnaire versions
(config.manage), and the keyset-paginated staff client list."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from sqlalchemy import text

from domain.clients.questionnaire import DEFAULT_DEFINITION
from tests.clients.flow import registered
from tests.conftest import GraphQLClient, unique
from tests.identity.staff import make_staff
from tests.ids import db_id

ADD_RULE = """mutation($d: String!, $a: [ID!]!, $c: String) { addSalesRule(desk: $d, assigneeIds: $a, country: $c,
  priority: 1) { rule { id desk country assigneeIds } errors { field code } } }"""
PUBLISH = "mutation($d: JSON!) { publishQuestionnaire(definition: $d) { version errors { field code } } }"
LEAD = "mutation($i: LeadInput!) { captureLead(input: $i) { ok errors { code } } }"
CLIENTS = """query($f: Int, $a: String) { clients(first: $f, after: $a) { edges { cursor node { id } }
  pageInfo { hasNextPage endCursor } } }"""


async def _count(session_factory: Any, table: str) -> int:
    async with session_factory() as s:
        return int(await s.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_sales_rules_assign_new_leads(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    sales = await make_staff(http, session_factory, settings, ["sales"], desk="latam")
    desk = unique("latam")
    # a client user, an unknown id and no assignee at all are refused with nothing written
    _, _, client_id = await registered(http)
    async with session_factory() as s:
        client_user = await s.scalar(text("SELECT user_id FROM clients WHERE id = :c"), {"c": db_id(client_id)})
    rules, audit = await _count(session_factory, "sales_rules"), await _count(session_factory, "audit_events")
    for assignees in ([str(client_user)], ["999999999"], []):
        refused = (await admin.client(ADD_RULE, {"d": desk, "a": assignees, "c": "MX"}))["data"]["addSalesRule"]
        assert refused == {"rule": None, "errors": [{"field": "assignees", "code": "NOT_FOUND"}]}
    denied = await sales.client(ADD_RULE, {"d": desk, "a": [str(sales.user_id)], "c": "MX"})
    assert denied["data"] is None or denied["data"]["addSalesRule"] is None
    assert (await _count(session_factory, "sales_rules"), await _count(session_factory, "audit_events")) == (rules,
                                                                                                             audit)

    made = (await admin.client(ADD_RULE, {"d": desk, "a": [str(sales.user_id)], "c": "MX"}))["data"]["addSalesRule"]
    assert made["errors"] == [] and made["rule"]["assigneeIds"] == [str(sales.user_id)]
    email = f"{unique('lead')}@example.com"
    assert (await GraphQLClient(http)(LEAD, {"i": {"email": email, "country": "MX"}}))["data"]["captureLead"]["ok"]
    async with session_factory() as s:
        lead_desk, assigned = (await s.execute(text(
            "SELECT desk, assigned_to FROM leads WHERE email = :e"), {"e": email})).one()
    assert (lead_desk, assigned) == (desk, sales.user_id)


async def test_publish_questionnaire(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    current = (await admin.client("{ questionnaire { version } }"))["data"]["questionnaire"]["version"]
    before = await _count(session_factory, "questionnaires")
    broken = (await admin.client(PUBLISH, {"d": {"questions": []}}))["data"]["publishQuestionnaire"]
    assert broken == {"version": None, "errors": [{"field": "definition", "code": "INVALID_BROKERAGE_CONFIGURATION"}]}
    assert await _count(session_factory, "questionnaires") == before
    # same questions as the built-in one, so other tests' answers stay valid
    published = (await admin.client(PUBLISH, {"d": copy.deepcopy(DEFAULT_DEFINITION)}))["data"]["publishQuestionnaire"]
    assert published == {"version": current + 1, "errors": []}
    assert (await admin.client("{ questionnaire { version } }"))["data"]["questionnaire"]["version"] == current + 1


async def test_client_list_is_keyset_paginated(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    for _ in range(3):
        await registered(http)
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    first = (await compliance.client(CLIENTS, {"f": 2}))["data"]["clients"]
    assert len(first["edges"]) == 2 and first["pageInfo"]["hasNextPage"] is True
    second = (await compliance.client(CLIENTS, {"f": 2, "a": first["pageInfo"]["endCursor"]}))["data"]["clients"]
    ids = [db_id(e["node"]["id"]) for e in first["edges"] + second["edges"]]
    assert len(ids) == 4 and ids == sorted(ids, reverse=True)
    bad = await compliance.client(CLIENTS, {"f": 2, "a": "not-a-cursor"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_PAGE_ARGUMENTS"
    too_many = await compliance.client(CLIENTS, {"f": 10_000})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_PAGE_ARGUMENTS"
