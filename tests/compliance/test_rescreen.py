"""Ongoing screening: a list import re-screens every eligible client against its added and changed entities only
(delta), delists the pending hits on removed ones, opens or joins the client's case for each new hit, and keeps
its progress in a run that resumes after its last client done and never stores a hit twice."""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from domain.compliance import lists, rescreen, runs, synthetic
from domain.compliance.errors import ScreeningListNotFound
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from tests.clients.staff_world import make_client, scalar

ACTOR = system_actor("test")


def _name(rng: random.Random) -> tuple[str, str]:
    return synthetic._word(rng, 3).title(), synthetic._word(rng, 4).title()


def _ftm(entities: dict[str, tuple[str, str]]) -> bytes:
    return b"\n".join(orjson.dumps({"id": key, "schema": "Person", "properties": {
        "name": [f"{first} {last}"], "topics": ["sanction"]}}) for key, (first, last) in entities.items())


async def _load(session_factory: Any, name: str, data: bytes) -> lists.Loaded:
    return await in_transaction(session_factory, lambda s: lists.load_list(s, ACTOR, name=name, fmt="ftm", data=data))


async def _hits(session_factory: Any, client_id: int) -> list[dict[str, Any]]:
    async with session_factory() as s:
        rows = await s.execute(text("SELECT id, entity_id, status, case_id, run_id, review_reason FROM "
                                    "screening_results WHERE client_id = :c AND entity_id IS NOT NULL ORDER BY id"),
                               {"c": client_id})
        return [dict(r._mapping) for r in rows]


async def _eligible(session_factory: Any, upto: int) -> int:
    return int(await scalar(session_factory, "SELECT count(*) FROM clients WHERE id <= :u AND status = ANY(:s)",
                            u=upto, s=list(rescreen.ELIGIBLE)))


async def test_a_delta_run_screens_only_the_changes_and_delists_removed_entities(
        session_factory: Any, settings: Any) -> None:
    rng = random.Random(uuid.uuid4().int)
    a, b, c = _name(rng), _name(rng), _name(rng)
    key = uuid.uuid4().hex[:8]
    ids = {"a": f"t-{key}-a", "b": f"t-{key}-b", "c": f"t-{key}-c"}
    x, x_user, _ = await make_client(session_factory, settings, first=a[0], last=a[1], status="active")
    w, _, _ = await make_client(session_factory, settings, first=c[0], last=c[1], status="approved")
    y, y_user, _ = await make_client(session_factory, settings, first=b[0], last=b[1], status="active")
    # Not eligible: never screened by a run.
    await make_client(session_factory, settings, first=a[0], last=a[1], status="registered")
    list_name = f"delta-{key}"

    first = await _load(session_factory, list_name, _ftm({ids["a"]: a, ids["c"]: c}))
    assert first.delta.added == [ids["a"], ids["c"]] and first.run is not None
    assert first.run.kind == "delta" and first.run.status == "queued" and first.run.entity_ids == [ids["a"], ids["c"]]
    assert await scalar(session_factory, "SELECT count(*) FROM outbox WHERE job = 'rescreen_clients' "
                                         "AND (payload->>'run_id')::bigint = :r", r=first.run.id) == 1
    stats = rescreen.Stats()
    done = await rescreen.execute(session_factory, ACTOR, first.run.id, batch=50, stats=stats)
    assert done is not None and done.status == "completed" and done.finished_at is not None
    assert done.clients_total == await _eligible(session_factory, done.upto_client_id or 0)
    assert done.clients_done == done.clients_total == stats.clients and done.hits_found == 2
    [x_hit] = await _hits(session_factory, x)
    [w_hit] = await _hits(session_factory, w)
    assert (x_hit["entity_id"], x_hit["status"], x_hit["run_id"]) == (ids["a"], "pending", first.run.id)
    assert w_hit["entity_id"] == ids["c"] and w_hit["case_id"] is not None
    case = await scalar(session_factory, "SELECT row(team, status, alert_count)::text FROM aml_cases WHERE id = :i",
                        i=x_hit["case_id"])
    assert case == "(compliance,open,1)"
    assert await scalar(session_factory, "SELECT user_id FROM aml_cases WHERE id = :i", i=x_hit["case_id"]) == x_user

    # A client matching the unchanged entity A, made after the first run: the delta does not look at A.
    z, _, _ = await make_client(session_factory, settings, first=a[0], last=a[1], status="active")
    second = await _load(session_factory, list_name, _ftm({ids["a"]: a, ids["b"]: b}))
    assert (second.delta.added, second.delta.changed, second.delta.removed, second.delta.unchanged) == (
        [ids["b"]], [], [ids["c"]], 1)
    assert second.run is not None and second.run.entity_ids == [ids["b"]] and second.run.removed_ids == [ids["c"]]
    stats = rescreen.Stats()
    done = await rescreen.execute(session_factory, ACTOR, second.run.id, batch=50, stats=stats)
    assert done is not None and done.status == "completed"
    assert (done.hits_found, done.hits_delisted) == (1, 1)
    assert done.clients_done == done.clients_total == await _eligible(session_factory, done.upto_client_id or 0)
    assert await _hits(session_factory, z) == []
    [y_hit] = await _hits(session_factory, y)
    assert y_hit["entity_id"] == ids["b"] and y_hit["status"] == "pending" and y_hit["case_id"] is not None
    assert await scalar(session_factory, "SELECT user_id FROM aml_cases WHERE id = :i", i=y_hit["case_id"]) == y_user
    [w_hit] = await _hits(session_factory, w)
    assert (w_hit["status"], w_hit["review_reason"]) == ("delisted", rescreen.DELISTED_REASON)
    assert await scalar(session_factory, "SELECT reason FROM audit_events WHERE entity_type = 'screening_result' "
                                         "AND entity_id = :i AND action = 'screening_result.resolved'",
                        i=str(w_hit["id"])) == rescreen.DELISTED_REASON
    # X's hit on A is the one from the first run, untouched.
    assert await _hits(session_factory, x) == [x_hit]

    # The same job delivered again finds its run completed; a new run over the same entities stores nothing twice.
    hits_before = await scalar(session_factory, "SELECT count(*) FROM screening_results")
    cases_before = await scalar(session_factory, "SELECT sum(alert_count) FROM aml_cases")
    again = await rescreen.execute(session_factory, ACTOR, second.run.id)
    assert again == done
    repeat = await in_transaction(session_factory, lambda s: runs.queue_delta(
        s, ACTOR, list_id=second.screening_list.id, list_name=list_name, version=second.screening_list.version,
        entity_ids=[ids["a"], ids["b"]], removed_ids=[ids["c"]]))
    repeated = await rescreen.execute(session_factory, ACTOR, repeat.id)
    assert repeated is not None and repeated.status == "completed"
    assert (repeated.hits_found, repeated.hits_delisted) == (1, 0)  # Z's hit on A: new, the rest on file
    assert [h["entity_id"] for h in await _hits(session_factory, z)] == [ids["a"]]
    assert await scalar(session_factory, "SELECT count(*) FROM screening_results") == hits_before + 1
    assert await scalar(session_factory, "SELECT sum(alert_count) FROM aml_cases") == cases_before + 1


async def test_a_run_resumes_after_its_last_client_and_a_full_run_needs_a_known_list(
        session_factory: Any, settings: Any) -> None:
    rng = random.Random(uuid.uuid4().int)
    a = _name(rng)
    key = uuid.uuid4().hex[:8]
    list_name = f"resume-{key}"
    early, _, _ = await make_client(session_factory, settings, first=a[0], last=a[1], status="active")
    late, _, _ = await make_client(session_factory, settings, first=a[0], last=a[1], status="active")
    loaded = await _load(session_factory, list_name, _ftm({f"t-{key}": a}))
    assert loaded.run is not None

    full = await in_transaction(session_factory, lambda s: runs.queue_full(s, ACTOR, list_name=list_name,
                                                                         trigger="manual"))
    assert (full.kind, full.list_id, full.status) == ("full", loaded.screening_list.id, "queued")
    # As a worker that died after committing the batch ending with `early` leaves it.
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE screening_runs SET status = 'running', last_client_id = :e, "
                             "upto_client_id = (SELECT max(id) FROM clients), clients_total = 7, clients_done = 5 "
                             "WHERE id = :r"), {"e": early, "r": full.id})
    stats = rescreen.Stats()
    done = await rescreen.execute(session_factory, ACTOR, full.id, stats=stats)
    assert done is not None and done.status == "completed"
    after_early = int(await scalar(session_factory, "SELECT count(*) FROM clients WHERE id > :e AND id <= :u AND "
                                                    "status = ANY(:s)", e=early, u=done.upto_client_id,
                                   s=list(rescreen.ELIGIBLE)))
    assert stats.clients == after_early and done.clients_done == 5 + after_early
    assert done.hits_found == 1 and [h["run_id"] for h in await _hits(session_factory, late)] == [full.id]
    assert await _hits(session_factory, early) == []  # done before the "crash": not screened again

    runs_before = await scalar(session_factory, "SELECT count(*) FROM screening_runs")
    outbox_before = await scalar(session_factory, "SELECT count(*) FROM outbox")
    with pytest.raises(ScreeningListNotFound):
        await in_transaction(session_factory, lambda s: runs.queue_full(s, ACTOR, list_name=f"none-{key}",
                                                                        trigger="manual"))
    assert await scalar(session_factory, "SELECT count(*) FROM screening_runs") == runs_before
    assert await scalar(session_factory, "SELECT count(*) FROM outbox") == outbox_before


async def test_the_schedule_queues_one_full_run_per_interval_and_hands_stalled_runs_back(
        session_factory: Any, settings: Any) -> None:
    from jobs.compliance import rescreen_schedule

    ctx = {"session_factory": session_factory, "settings": settings.model_copy(update={"screening_full_interval_h": 24})}
    async with session_factory() as s, s.begin():  # every earlier full run long past
        await s.execute(text("UPDATE screening_runs SET created_at = now() - interval '30 days' WHERE kind = 'full'"))
        stalled = await s.scalar(text(
            "INSERT INTO screening_runs (kind, trigger, status, matcher_version, threshold, created_at, updated_at) "
            "VALUES ('full', 'manual', 'running', 'test', 0.8, now() - interval '2 days', now() - interval '1 hour') "
            "RETURNING id"))
    before = int(await scalar(session_factory, "SELECT coalesce(max(id), 0) FROM outbox"))
    await rescreen_schedule(ctx)
    await rescreen_schedule(ctx)  # within the interval: nothing more
    queued = await scalar(session_factory, "SELECT array_agg(id ORDER BY id) FROM screening_runs WHERE kind = 'full' "
                                           "AND trigger = 'schedule' AND created_at > now() - interval '1 hour'")
    assert len(queued) == 1
    events = await scalar(session_factory, "SELECT array_agg((payload->>'run_id')::bigint ORDER BY id) FROM outbox "
                                           "WHERE id > :b AND job = 'rescreen_clients'", b=before)
    assert sorted(set(events)) == sorted([queued[0], stalled]) and events.count(queued[0]) == 1
    async with session_factory() as s, s.begin():  # not for a worker of a later module to execute
        await s.execute(text("UPDATE screening_runs SET status = 'completed' WHERE id = ANY(:i)"),
                        {"i": [queued[0], stalled]})
        await s.execute(text("UPDATE outbox SET published_at = now() WHERE id > :b"), {"b": before})


async def _notes(session_factory: Any, case_id: int) -> list[dict[str, Any]]:
    async with session_factory() as s:
        rows = await s.execute(text("SELECT id, author_id, body FROM aml_case_notes WHERE case_id = :c ORDER BY id"),
                               {"c": case_id})
        return [dict(r._mapping) for r in rows]


async def _case(session_factory: Any, case_id: int) -> str:
    return str(await scalar(session_factory, "SELECT row(status, outcome, alert_count)::text FROM aml_cases "
                                             "WHERE id = :i", i=case_id))


async def test_a_delisted_hit_is_noted_on_its_case_which_says_when_nothing_is_left_open(
        session_factory: Any, settings: Any) -> None:
    rng = random.Random(uuid.uuid4().int)
    a, b, c = _name(rng), _name(rng), _name(rng)
    key = uuid.uuid4().hex[:8]
    ids = {k: f"n-{key}-{k}" for k in ("a", "b", "b2", "c")}
    x, _, _ = await make_client(session_factory, settings, first=a[0], last=a[1], status="active")
    y, _, _ = await make_client(session_factory, settings, first=b[0], last=b[1], status="active")
    w, _, _ = await make_client(session_factory, settings, first=c[0], last=c[1], status="active")
    list_name = f"notes-{key}"
    # Y matches two entities: removing one leaves the other pending on Y's case.
    first = await _load(session_factory, list_name, _ftm({ids["a"]: a, ids["b"]: b, ids["b2"]: b, ids["c"]: c}))
    assert first.run is not None
    await rescreen.execute(session_factory, ACTOR, first.run.id)
    [x_hit] = await _hits(session_factory, x)
    y_hits = await _hits(session_factory, y)
    [w_hit] = await _hits(session_factory, w)
    assert len(y_hits) == 2 and len({h["case_id"] for h in y_hits}) == 1
    x_case, y_case, w_case = x_hit["case_id"], y_hits[0]["case_id"], w_hit["case_id"]
    before = {i: await _case(session_factory, i) for i in (x_case, y_case, w_case)}
    assert before[x_case] == "(open,,1)" and await _notes(session_factory, x_case) == []

    second = await _load(session_factory, list_name, _ftm({ids["b2"]: b, ids["c"]: c}))
    assert second.run is not None and sorted(second.run.removed_ids) == sorted([ids["a"], ids["b"]])
    done = await rescreen.execute(session_factory, ACTOR, second.run.id)
    assert done is not None and done.hits_delisted == 2
    # X's only hit is delisted: the note says so and that nothing is open; the case waits for an officer.
    [x_note] = await _notes(session_factory, x_case)
    assert x_note["author_id"] is None
    assert f"Screening hit {x_hit['id']} ({list_name} entity {ids['a']}" in x_note["body"]
    assert rescreen.DELISTED_REASON in x_note["body"] and "Nothing on this case is open any more" in x_note["body"]
    assert await _case(session_factory, x_case) == before[x_case]
    assert await scalar(session_factory, "SELECT reason FROM audit_events WHERE entity_type = 'aml_case' AND "
                                         "entity_id = :i AND action = 'aml.case_note'",
                        i=str(x_case)) == rescreen.DELISTED_REASON
    # Y's case still has the hit on B2 pending: noted, not said to be closable.
    [y_note] = await _notes(session_factory, y_case)
    assert ids["b"] in y_note["body"] and ids["b2"] not in y_note["body"] and "Nothing" not in y_note["body"]
    assert await _case(session_factory, y_case) == before[y_case]
    # W's entity did not change: its case neither.
    assert await _notes(session_factory, w_case) == [] and await _case(session_factory, w_case) == before[w_case]

    # Once: the same run again, or a new run removing the same entities, adds no note.
    await rescreen.execute(session_factory, ACTOR, second.run.id)
    repeat = await in_transaction(session_factory, lambda s: runs.queue_delta(
        s, ACTOR, list_id=second.screening_list.id, list_name=list_name, version=second.screening_list.version,
        entity_ids=[], removed_ids=[ids["a"], ids["b"]]))
    repeated = await rescreen.execute(session_factory, ACTOR, repeat.id)
    assert repeated is not None and repeated.hits_delisted == 0
    assert [len(await _notes(session_factory, i)) for i in (x_case, y_case, w_case)] == [1, 1, 0]


def _ftm_alias(entities: dict[str, tuple[tuple[str, str], str | None]]) -> bytes:
    return b"\n".join(orjson.dumps({"id": k, "schema": "Person", "properties": {
        "name": [f"{first} {last}"], "topics": ["sanction"], **({"alias": [alias]} if alias else {})}})
        for k, ((first, last), alias) in entities.items())


async def test_a_dismissed_hit_on_a_changed_entity_is_pending_again_with_a_case(
        session_factory: Any, settings: Any) -> None:
    from domain.compliance import screening
    from domain.compliance.aml import cases

    rng = random.Random(uuid.uuid4().int)
    a, c, d, fresh = _name(rng), _name(rng), _name(rng), _name(rng)
    key = uuid.uuid4().hex[:8]
    ids = {k: f"r-{key}-{k}" for k in ("a", "c", "d")}
    x, x_user, _ = await make_client(session_factory, settings, first=a[0], last=a[1], status="active")
    w, _, _ = await make_client(session_factory, settings, first=c[0], last=c[1], status="active")
    v, _, _ = await make_client(session_factory, settings, first=d[0], last=d[1], status="active")
    list_name = f"reopen-{key}"
    first = await _load(session_factory, list_name, _ftm_alias({ids["a"]: (a, None), ids["c"]: (c, None),
                                                                ids["d"]: (d, None)}))
    assert first.run is not None
    await rescreen.execute(session_factory, ACTOR, first.run.id)
    hits = [(await _hits(session_factory, client))[0] for client in (x, w, v)]
    for hit in hits:  # an officer dismisses every hit and closes X's case
        async def dismiss(s: Any, i: int = int(hit["id"])) -> Any:
            return await screening.resolve_hit(s, ACTOR, i, confirmed=False, reason="not the same person")

        await in_transaction(session_factory, dismiss)
    await in_transaction(session_factory, lambda s: cases.close(s, ACTOR, hits[0]["case_id"], "false_positive",
                                                                "not the same person"))
    x_hit, w_hit, v_hit = [await _hits(session_factory, client) for client in (x, w, v)]

    # A gains an alias (X still matches), C is unchanged, D is renamed (V no longer matches).
    second = await _load(session_factory, list_name, _ftm_alias({
        ids["a"]: (a, f"{fresh[0]} {fresh[1]}"), ids["c"]: (c, None), ids["d"]: (fresh, None)}))
    assert second.run is not None and sorted(second.delta.changed) == sorted([ids["a"], ids["d"]])
    done = await rescreen.execute(session_factory, ACTOR, second.run.id)
    assert done is not None and done.hits_found == 1
    [reopened] = await _hits(session_factory, x)
    assert (reopened["id"], reopened["status"], reopened["run_id"], reopened["review_reason"]) == (
        x_hit[0]["id"], "pending", second.run.id, rescreen.REOPENED_REASON)
    assert reopened["case_id"] not in (None, x_hit[0]["case_id"])  # the closed case stays closed: a new one
    assert await _case(session_factory, reopened["case_id"]) == "(open,,1)"
    assert await scalar(session_factory, "SELECT user_id FROM aml_cases WHERE id = :i", i=reopened["case_id"]) == x_user
    assert await scalar(session_factory, "SELECT reason FROM audit_events WHERE entity_type = 'screening_result' "
                                         "AND entity_id = :i AND action = 'screening_result.reopened'",
                        i=str(reopened["id"])) == rescreen.REOPENED_REASON
    assert await _hits(session_factory, w) == w_hit and w_hit[0]["status"] == "dismissed"
    assert await _hits(session_factory, v) == v_hit and v_hit[0]["status"] == "dismissed"

    # The same run again, or the same file again (no change: no run), changes nothing.
    cases_before = await scalar(session_factory, "SELECT sum(alert_count) FROM aml_cases")
    await rescreen.execute(session_factory, ACTOR, second.run.id)
    same = await _load(session_factory, list_name, _ftm_alias({
        ids["a"]: (a, f"{fresh[0]} {fresh[1]}"), ids["c"]: (c, None), ids["d"]: (fresh, None)}))
    assert same.run is None
    assert [await _hits(session_factory, client) for client in (x, w, v)] == [[reopened], w_hit, v_hit]
    assert await scalar(session_factory, "SELECT sum(alert_count) FROM aml_cases") == cases_before
