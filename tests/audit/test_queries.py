from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.audit import service
from domain.shared.actor import ANONYMOUS, Actor, ActorKind
from domain.shared.settings import Settings
from schema.context import Context
from schema.root import build_schema
from tests.audit.conftest import write_events

READER = Actor(ActorKind.STAFF, user_id=1, permissions=frozenset({"audit.read"}))
NOBODY = Actor(ActorKind.STAFF, user_id=2, permissions=frozenset({"system.announce"}))

EVENTS = """query($filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id databaseId action entityType entityId actorUserId before after category seq hash } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(scope="module")
def schema(settings: Settings) -> Any:
    return build_schema(settings)


async def _run(schema: Any, runtime: Any, actor: Actor, query: str, **variables: Any) -> Any:
    ctx = Context(services=runtime.services, request=None, response=None, request_id="t",  # type: ignore[arg-type]
                  actor=actor)
    return await schema.execute(query, variable_values=variables, context_value=ctx)


@pytest.mark.parametrize("query", [EVENTS, "{ regulatorRecords(kind: COMMUNICATION) { edges { cursor } } }",
                                   "{ auditVerify { ok } }"])
async def test_anonymous_and_unprivileged_callers_are_refused(schema: Any, runtime: Any, query: str) -> None:
    await write_events(runtime.services.session_factory, 1)
    anonymous = await _run(schema, runtime, ANONYMOUS, query)
    assert anonymous.data is None and anonymous.errors[0].extensions["code"] == "UNAUTHENTICATED"
    forbidden = await _run(schema, runtime, NOBODY, query)
    assert forbidden.data is None and forbidden.errors[0].extensions["code"] == "FORBIDDEN"


async def test_audit_events_filter_and_paginate_newest_first(schema: Any, runtime: Any) -> None:
    ids = await write_events(runtime.services.session_factory, 5)
    ids += await write_events(runtime.services.session_factory, 2, correlation="x")
    flt = {"entityType": "thing", "actorUserId": 7, "action": "thing.changed", "category": "general",
           "from": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    first = await _run(schema, runtime, READER, EVENTS, filter=flt, first=4)
    assert first.errors is None
    page = first.data["auditEvents"]
    assert [int(e["node"]["databaseId"]) for e in page["edges"]] == sorted(ids, reverse=True)[:4]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await _run(schema, runtime, READER, EVENTS, filter=flt, first=4, after=page["pageInfo"]["endCursor"])
    seen = [int(e["node"]["databaseId"]) for e in page["edges"] + rest.data["auditEvents"]["edges"]]
    assert seen == sorted(ids, reverse=True) and rest.data["auditEvents"]["pageInfo"]["hasNextPage"] is False
    one = await _run(schema, runtime, READER, EVENTS, filter={"entityType": "thing", "entityId": "3"})
    nodes = [e["node"] for e in one.data["auditEvents"]["edges"]]
    assert {n["entityId"] for n in nodes} == {"3"}
    assert nodes[0]["before"] == {"n": 3} and nodes[0]["after"] == {"n": 4} and len(nodes[0]["hash"]) == 64


async def test_audit_verify_query_reports_the_first_problem(schema: Any, runtime: Any, attacker: Any) -> None:
    ids = await write_events(runtime.services.session_factory, 3)
    ok = await _run(schema, runtime, READER,
                    "{ auditVerify { ok rowsChecked partitionsChecked firstProblem { kind } } }")
    assert ok.data["auditVerify"] == {"ok": True, "rowsChecked": 3, "partitionsChecked": 64, "firstProblem": None}
    await attacker.execute("UPDATE audit_events SET reason = 'x' WHERE id = $1", ids[1])
    bad = await _run(schema, runtime, READER,
                     "{ auditVerify { ok firstProblem { kind partition seq eventId detail } } }")
    problem = bad.data["auditVerify"]["firstProblem"]
    assert bad.data["auditVerify"]["ok"] is False
    assert (problem["kind"], problem["seq"], problem["eventId"]) == ("HASH_MISMATCH", 2, str(ids[1]))


async def test_audit_verify_query_checks_the_exported_seals(
    schema: Any, runtime: Any, attacker: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner deletes the last event of a sealed day, rewinds the head and re-seals the day in
    the database: the query still names the day, from the seal exported and signed before."""
    from tests.audit.test_insider import PART, _reseal, _rewind_head, _sealed_day

    day, ids = await _sealed_day(runtime.services.session_factory, monkeypatch, settings, days_ago=1)
    query = "{ auditVerify { ok sealsChecked firstProblem { kind partition day } } }"
    ok = await _run(schema, runtime, READER, query)
    assert ok.data["auditVerify"] == {"ok": True, "sealsChecked": 1, "firstProblem": None}
    await attacker.execute("DELETE FROM audit_events WHERE id = $1", ids[-1])
    await _rewind_head(attacker, ids[-2])
    await _reseal(attacker, runtime.services.session_factory, day)
    bad = await _run(schema, runtime, READER, query)
    assert bad.data["auditVerify"]["firstProblem"] == {"kind": "SEAL_MISMATCH", "partition": PART,
                                                      "day": day.isoformat()}


async def test_audit_events_name_their_actor(schema: Any, runtime: Any) -> None:
    """actorDisplayName: the acting user's name (one statement for the page), null for the system."""
    from sqlalchemy import text

    from domain.shared.actor import system_actor
    from tests.conftest import unique

    factory = runtime.services.session_factory
    entity = unique("named")
    async with factory() as s, s.begin():
        uid = int(await s.scalar(text(
            "INSERT INTO users (email, email_normalized, is_staff, display_name) VALUES (:e, :e, true, 'Fran First') "
            "RETURNING id"), {"e": f"{entity}@example.com"}))
        await service.record(s, Actor(ActorKind.STAFF, user_id=uid), action="thing.named", entity_type="thing",
                             entity_id=entity)
        await service.record(s, system_actor("test"), action="thing.named", entity_type="thing", entity_id=entity)
    got = await _run(schema, runtime, READER, """query($f: AuditEventFilter) { auditEvents(filter: $f, first: 5) {
        nodes { actorUserId actorDisplayName } } }""", f={"entityType": "thing", "entityId": entity})
    assert got.errors is None, got.errors
    assert got.data["auditEvents"]["nodes"] == [{"actorUserId": None, "actorDisplayName": None},
                                                {"actorUserId": uid, "actorDisplayName": "Fran First"}]
