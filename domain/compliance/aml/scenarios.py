"""Scenarios and their versions: one draft per scenario (edited freely), committed versions that never
change (a trigger in migration 0041 refuses it), exactly one live version once activated. Activation
is a request that a second, independent staff member approves (domain/identity/four_eyes.py), audited
both times. Custom lists (values a rule's `in_list` reads) are kept here too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.compliance.aml import engine, test_runs
from domain.compliance.aml.rules import BUILTIN_LISTS, LIST_NAME, compile_document
from domain.compliance.errors import (
    ActivationNotFound,
    ActivationNotPending,
    ActivationPending,
    NoDraft,
    ScenarioNameTaken,
    ScenarioNotFound,
)
from domain.identity import four_eyes
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page

TEAM = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Scenario:
    id: int
    name: str
    description: str
    team: str
    live_version_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class ScenarioVersion:
    id: int
    scenario_id: int
    version: int | None
    status: str
    document: dict[str, Any]
    created_by: int | None
    created_at: datetime
    committed_at: datetime | None


@dataclass(frozen=True)
class ActivationRequest:
    id: int
    scenario_id: int
    version_id: int
    requested_by: int
    reason: str
    status: str
    decided_by: int | None
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None


_S = "id, name, description, team, live_version_id, created_at"
_V = "id, scenario_id, version, status, document, created_by, created_at, committed_at"
_A = ("id, scenario_id, version_id, requested_by, reason, status, decided_by, decision_reason, created_at, "
      "decided_at")


def _scenario(r: Any) -> Scenario:
    return Scenario(r.id, r.name, r.description, r.team, r.live_version_id, r.created_at)


def _version(r: Any) -> ScenarioVersion:
    doc = r.document if isinstance(r.document, dict) else orjson.loads(r.document)
    return ScenarioVersion(r.id, r.scenario_id, r.version, r.status, doc, r.created_by, r.created_at, r.committed_at)


def _request(r: Any) -> ActivationRequest:
    return ActivationRequest(r.id, r.scenario_id, r.version_id, r.requested_by, r.reason, r.status, r.decided_by,
                             r.decision_reason, r.created_at, r.decided_at)


def _staff(actor: Actor) -> int:
    assert actor.user_id is not None
    return actor.user_id


def _text(value: str, field: str, *, limit: int, required: bool = True) -> str:
    value = value.strip()
    if (required and not value) or len(value) > limit:
        raise ValidationFailed(f"1 to {limit} characters" if required else f"at most {limit} characters", field=field)
    return value


async def get_scenario(session: AsyncSession, scenario_id: int, *, lock: bool = False) -> Scenario:
    row = (await session.execute(text(
        f"SELECT {_S} FROM aml_scenarios WHERE id = :i" + (" FOR UPDATE" if lock else "")),  # noqa: S608
        {"i": scenario_id})).first()
    if row is None:
        raise ScenarioNotFound("no such scenario", field="scenarioId")
    return _scenario(row)


async def scenarios_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Scenario]:
    rows = await session.execute(text(f"SELECT {_S} FROM aml_scenarios WHERE id = ANY(:i)"), {"i": ids})  # noqa: S608
    return {r.id: _scenario(r) for r in rows}


async def versions_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, ScenarioVersion]:
    rows = await session.execute(text(f"SELECT {_V} FROM aml_scenario_versions WHERE id = ANY(:i)"),  # noqa: S608
                                 {"i": ids})
    return {r.id: _version(r) for r in rows}


async def activations_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, ActivationRequest]:
    rows = await session.execute(text(f"SELECT {_A} FROM aml_activation_requests WHERE id = ANY(:i)"),  # noqa: S608
                                 {"i": ids})
    return {r.id: _request(r) for r in rows}


async def list_scenarios(session: AsyncSession, page: PageRequest) -> Page[Scenario]:
    return await sql_page(session, page, columns=_S, source="aml_scenarios", where=[], params={},
                          key=("created_at", "id"), descending=False, convert=_scenario)


async def list_versions(session: AsyncSession, scenario_id: int, page: PageRequest) -> Page[ScenarioVersion]:
    return await sql_page(session, page, columns=_V, source="aml_scenario_versions", where=["scenario_id = :s"],
                          params={"s": scenario_id}, key=("created_at", "id"), descending=True, convert=_version)


async def list_activations(session: AsyncSession, status: str | None, page: PageRequest) -> Page[ActivationRequest]:
    return await sql_page(session, page, columns=_A, source="aml_activation_requests",
                          where=["status = :st"] if status else [], params={"st": status} if status else {},
                          key=("created_at", "id"), descending=False, convert=_request)


async def draft_of(session: AsyncSession, scenario_id: int) -> ScenarioVersion | None:
    row = (await session.execute(text(
        f"SELECT {_V} FROM aml_scenario_versions WHERE scenario_id = :s AND status = 'draft'"),  # noqa: S608
        {"s": scenario_id})).first()
    return _version(row) if row else None


async def create_scenario(session: AsyncSession, actor: Actor, *, name: str, description: str, team: str,
                          document: Any) -> tuple[Scenario, ScenarioVersion]:
    name = _text(name, "name", limit=120)
    description = _text(description, "description", limit=2000, required=False)
    if not TEAM.fullmatch(team):
        raise ValidationFailed("a team is lower case letters, digits, - and _", field="team")
    program = compile_document(document)
    taken = await session.scalar(text("SELECT 1 FROM aml_scenarios WHERE name = :n"), {"n": name})
    if taken:
        raise ScenarioNameTaken("a scenario with this name exists", field="name")
    sid = await session.scalar(text(
        "INSERT INTO aml_scenarios (name, description, team, created_by) VALUES (:n, :d, :t, :u) "
        "ON CONFLICT (name) DO NOTHING RETURNING id"), {"n": name, "d": description, "t": team, "u": _staff(actor)})
    if sid is None:
        raise ScenarioNameTaken("a scenario with this name exists", field="name")
    version = await _write_draft(session, actor, int(sid), document, list(program.triggers))
    await audit.record(session, actor, action="aml.scenario_created", entity_type="aml_scenario", entity_id=sid,
                       after={"name": name, "team": team, "draft_version_id": version.id}, category="compliance")
    return await get_scenario(session, int(sid)), version


async def _write_draft(session: AsyncSession, actor: Actor, scenario_id: int, document: Any,
                       triggers: list[str]) -> ScenarioVersion:
    row = (await session.execute(text(
        "INSERT INTO aml_scenario_versions (scenario_id, status, document, triggers, created_by) "  # noqa: S608
        "VALUES (:s, 'draft', CAST(:d AS jsonb), :t, :u) "
        "ON CONFLICT (scenario_id) WHERE status = 'draft' DO UPDATE SET document = EXCLUDED.document, "
        f"triggers = EXCLUDED.triggers, created_by = EXCLUDED.created_by, created_at = now() RETURNING {_V}"),
        {"s": scenario_id, "d": orjson.dumps(document).decode(), "t": triggers, "u": _staff(actor)})).one()
    return _version(row)


async def save_draft(session: AsyncSession, actor: Actor, scenario_id: int, document: Any) -> ScenarioVersion:
    """Replace (or start) the scenario's draft; refused whole, node by node, when the document is bad."""
    await get_scenario(session, scenario_id, lock=True)
    program = compile_document(document)
    before = await draft_of(session, scenario_id)
    version = await _write_draft(session, actor, scenario_id, document, list(program.triggers))
    await audit.record(session, actor, action="aml.draft_saved", entity_type="aml_scenario", entity_id=scenario_id,
                       before={"document": before.document} if before else None,
                       after={"document": document, "version_id": version.id}, category="compliance")
    return version


async def commit_draft(session: AsyncSession, actor: Actor, scenario_id: int) -> ScenarioVersion:
    """The draft becomes the next numbered version, never to change again."""
    await get_scenario(session, scenario_id, lock=True)
    draft = await draft_of(session, scenario_id)
    if draft is None:
        raise NoDraft("this scenario has no draft to commit", field="scenarioId")
    compile_document(draft.document)
    row = (await session.execute(text(
        "UPDATE aml_scenario_versions SET status = 'committed', committed_at = now(), "  # noqa: S608
        "version = (SELECT coalesce(max(version), 0) + 1 FROM aml_scenario_versions WHERE scenario_id = :s) "
        f"WHERE id = :i RETURNING {_V}"), {"s": scenario_id, "i": draft.id})).one()
    committed = _version(row)
    await audit.record(session, actor, action="aml.version_committed", entity_type="aml_scenario",
                       entity_id=scenario_id, after={"version_id": committed.id, "version": committed.version},
                       category="compliance")
    return committed


async def _committed(session: AsyncSession, scenario_id: int, version: int) -> ScenarioVersion:
    row = (await session.execute(text(
        f"SELECT {_V} FROM aml_scenario_versions WHERE scenario_id = :s AND version = :v"),  # noqa: S608
        {"s": scenario_id, "v": version})).first()
    if row is None:
        raise ValidationFailed("no committed version with this number", field="version")
    return _version(row)


async def request_activation(session: AsyncSession, actor: Actor, scenario_id: int, version: int,
                             reason: str) -> ActivationRequest:
    reason = _text(reason, "reason", limit=1000)
    scenario = await get_scenario(session, scenario_id, lock=True)
    target = await _committed(session, scenario_id, version)
    if scenario.live_version_id == target.id:
        raise ValidationFailed("this version is already live", field="version")
    pending = await session.scalar(text(
        "SELECT 1 FROM aml_activation_requests WHERE scenario_id = :s AND status = 'pending'"), {"s": scenario_id})
    if pending:
        raise ActivationPending("an activation of this scenario already awaits approval", field="scenarioId")
    row = (await session.execute(text(
        "INSERT INTO aml_activation_requests (scenario_id, version_id, requested_by, reason) "  # noqa: S608
        f"VALUES (:s, :v, :u, :r) RETURNING {_A}"),
        {"s": scenario_id, "v": target.id, "u": _staff(actor), "r": reason})).one()
    req = _request(row)
    await audit.record(session, actor, action="aml.activation_requested", entity_type="aml_activation",
                       entity_id=req.id, after={"scenario_id": scenario_id, "version": version,
                                                "version_id": target.id}, reason=reason, category="compliance")
    return req


async def _pending(session: AsyncSession, request_id: int) -> ActivationRequest:
    row = (await session.execute(text(
        f"SELECT {_A} FROM aml_activation_requests WHERE id = :i FOR UPDATE"), {"i": request_id})).first()  # noqa: S608
    if row is None:
        raise ActivationNotFound("no such activation request", field="requestId")
    req = _request(row)
    if req.status != "pending":
        raise ActivationNotPending("this activation was already decided", field="requestId")
    return req


async def approve_activation(session: AsyncSession, actor: Actor, request_id: int) -> ActivationRequest:
    """The second pair of eyes: not the requester, nor related to them; the version goes live."""
    req = await _pending(session, request_id)
    approver = _staff(actor)
    if approver == req.requested_by:
        raise four_eyes.SelfApproval("a second staff member must approve this activation", field="requestId")
    await four_eyes.require_independent(session, approver, [req.requested_by], field="requestId")
    scenario = await get_scenario(session, req.scenario_id, lock=True)
    await session.execute(text("UPDATE aml_scenarios SET live_version_id = :v WHERE id = :s"),
                          {"v": req.version_id, "s": req.scenario_id})
    row = (await session.execute(text(
        "UPDATE aml_activation_requests SET status = 'approved', decided_by = :u, decided_at = now() "  # noqa: S608
        f"WHERE id = :i RETURNING {_A}"), {"u": approver, "i": request_id})).one()
    await audit.record(session, actor, action="aml.version_activated", entity_type="aml_scenario",
                       entity_id=req.scenario_id,
                       before={"live_version_id": scenario.live_version_id},
                       after={"live_version_id": req.version_id, "request_id": req.id,
                              "requested_by": req.requested_by}, category="compliance")
    return _request(row)


async def reject_activation(session: AsyncSession, actor: Actor, request_id: int, reason: str) -> ActivationRequest:
    reason = _text(reason, "reason", limit=1000)
    req = await _pending(session, request_id)
    row = (await session.execute(text(
        "UPDATE aml_activation_requests SET status = 'rejected', decided_by = :u, decided_at = now(), "  # noqa: S608
        f"decision_reason = :r WHERE id = :i RETURNING {_A}"),
        {"u": _staff(actor), "i": request_id, "r": reason})).one()
    await audit.record(session, actor, action="aml.activation_rejected", entity_type="aml_activation",
                       entity_id=req.id, reason=reason, category="compliance")
    return _request(row)


async def deactivate(session: AsyncSession, actor: Actor, scenario_id: int, reason: str) -> Scenario:
    """Take a scenario off (nothing is live): one person may stop monitoring's effect on money at once,
    as stopping errs on the side of the client; audited with the reason."""
    reason = _text(reason, "reason", limit=1000)
    scenario = await get_scenario(session, scenario_id, lock=True)
    await session.execute(text("UPDATE aml_scenarios SET live_version_id = NULL WHERE id = :s"), {"s": scenario_id})
    await audit.record(session, actor, action="aml.scenario_deactivated", entity_type="aml_scenario",
                       entity_id=scenario_id, before={"live_version_id": scenario.live_version_id},
                       after={"live_version_id": None}, reason=reason, category="compliance")
    return await get_scenario(session, scenario_id)


async def test_run(session: AsyncSession, scenario_id: int, *, since: datetime, until: datetime,
                   document: Any | None = None) -> test_runs.RunResult:
    """The draft (or `document`, unsaved) over [since, until) beside the live version."""
    if until <= since:
        raise ValidationFailed("until must be after since", field="until")
    if (until - since).days > 3660:
        raise ValidationFailed("a test run covers at most ten years", field="until")
    scenario = await get_scenario(session, scenario_id)
    if document is None:
        draft = await draft_of(session, scenario_id)
        if draft is None:
            raise NoDraft("this scenario has no draft; pass a document", field="scenarioId")
        document = draft.document
    program = compile_document(document)
    if not set(program.triggers) & {"deposit", "withdrawal"}:
        # A test run replays payments; other events are not kept as history to replay (yet).
        raise ValidationFailed("a test run replays deposits and withdrawals: this document has neither trigger",
                               field="document")
    live = None
    if scenario.live_version_id is not None:
        found = (await versions_by_ids(session, [scenario.live_version_id]))[scenario.live_version_id]
        live = engine.compiled(found.id, found.document)
    return await test_runs.test_run(session, program, live, since=since, until=until)


# --- custom lists ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomList:
    name: str
    entries: list[str]
    updated_at: datetime


async def set_list(session: AsyncSession, actor: Actor, name: str, entries: list[str]) -> CustomList:
    if not LIST_NAME.fullmatch(name) or name in BUILTIN_LISTS:
        raise ValidationFailed("a list name is lower case letters, digits and _ (not a built-in list)", field="name")
    cleaned = sorted({e.strip() for e in entries if e.strip()})
    if len(cleaned) > 100_000 or any(len(e) > 200 for e in cleaned):
        raise ValidationFailed("at most 100000 entries of at most 200 characters", field="entries")
    before = await session.scalar(text("SELECT entries FROM aml_lists WHERE name = :n"), {"n": name})
    row = (await session.execute(text(
        "INSERT INTO aml_lists (name, entries, updated_by) VALUES (:n, :e, :u) ON CONFLICT (name) DO UPDATE "
        "SET entries = EXCLUDED.entries, updated_by = EXCLUDED.updated_by, updated_at = now() "
        "RETURNING name, entries, updated_at"), {"n": name, "e": cleaned, "u": _staff(actor)})).one()
    await audit.record(session, actor, action="aml.list_set", entity_type="aml_list", entity_id=name,
                       before={"count": len(before)} if before is not None else None,
                       after={"count": len(cleaned)}, category="compliance")
    return CustomList(row.name, list(row.entries), row.updated_at)
