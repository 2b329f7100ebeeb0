"""Cross-tenant cases for transaction monitoring (imported by cases.py): scenarios, activations, cases and
decisions are for compliance staff only; a client's cases and decisions never reach another client, a
staff member without the compliance permissions, or desk staff."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case


async def _scenario(env: Env) -> tuple[int, int]:
    """A scenario with one committed version (rows only: the case is about who may reach them)."""
    async with env.session_factory() as s, s.begin():
        scenario_id = await s.scalar(text(
            "INSERT INTO aml_scenarios (name, description) VALUES (:n, 'secret-scenario-description') RETURNING id"),
            {"n": f"tenancy-{uuid.uuid4().hex[:10]}"})
        version_id = await s.scalar(text(
            "INSERT INTO aml_scenario_versions (scenario_id, version, status, document, triggers, committed_at) "
            "VALUES (:s, 1, 'committed', '{\"secret\": \"secret-rule-document\"}', '{deposit}', now()) RETURNING id"),
            {"s": scenario_id})
    return int(scenario_id), int(version_id)


async def _case(env: Env) -> int:
    async with env.session_factory() as s, s.begin():
        case_id = await s.scalar(text(
            "INSERT INTO aml_cases (user_id, team, sla_due_at) VALUES (:u, 'secret-team', now() + interval '1 day') "
            "RETURNING id"), {"u": env.owner_id})
        await s.execute(text("INSERT INTO aml_case_notes (case_id, author_id, body) VALUES (:c, :u, 'secret-note')"),
                        {"c": case_id, "u": env.owner_id})
    return int(case_id)


async def _decision(env: Env) -> int:
    scenario_id, version_id = await _scenario(env)
    case_id = await _case(env)
    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, event, score, outcome, explain, "
            "hold_status, case_id) VALUES (:s, :v, :u, 'deposit', '{\"payer\": \"secret-payer\"}', 60, 'block', "
            "'[{\"rule\": \"secret-rule\"}]', 'held', :c) RETURNING id"),
            {"s": scenario_id, "v": version_id, "u": env.owner_id, "c": case_id}))


SCENARIO_SECRETS = ["secret-scenario-description", "secret-rule-document"]
CASE_SECRETS = ["secret-team", "secret-note"]
DECISION_SECRETS = ["secret-payer", "secret-rule"]


@case("Mutation.saveAmlDraft")
async def save_draft(env: Env) -> Probe:
    scenario_id, _ = await _scenario(env)
    return Probe("mutation($s: ID!) { saveAmlDraft(scenarioId: $s, document: {}) { version { document } "
                 "errors { code } } }", {"s": str(scenario_id)}, secrets=SCENARIO_SECRETS)


@case("Mutation.commitAmlDraft")
async def commit_draft(env: Env) -> Probe:
    scenario_id, _ = await _scenario(env)
    return Probe("mutation($s: ID!) { commitAmlDraft(scenarioId: $s) { version { document } errors { code } } }",
                 {"s": str(scenario_id)}, secrets=SCENARIO_SECRETS)


@case("Mutation.runAmlTest")
async def run_test(env: Env) -> Probe:
    scenario_id, _ = await _scenario(env)
    return Probe("mutation($s: ID!) { runAmlTest(scenarioId: $s, since: \"2026-01-01T00:00:00Z\", "
                 "until: \"2026-02-01T00:00:00Z\") { run { evaluated } errors { code } } }",
                 {"s": str(scenario_id)}, secrets=SCENARIO_SECRETS)


@case("Mutation.requestAmlActivation")
async def request_activation(env: Env) -> Probe:
    scenario_id, _ = await _scenario(env)
    return Probe("mutation($s: ID!) { requestAmlActivation(scenarioId: $s, version: 1, reason: \"x\") { "
                 "request { status } errors { code } } }", {"s": str(scenario_id)}, secrets=SCENARIO_SECRETS)


@case("Mutation.deactivateAmlScenario")
async def deactivate(env: Env) -> Probe:
    scenario_id, _ = await _scenario(env)
    return Probe("mutation($s: ID!) { deactivateAmlScenario(scenarioId: $s, reason: \"x\") { "
                 "scenario { description } errors { code } } }", {"s": str(scenario_id)}, secrets=SCENARIO_SECRETS)


async def _activation(env: Env) -> int:
    scenario_id, version_id = await _scenario(env)
    async with env.session_factory() as s, s.begin():
        return int(await s.scalar(text(
            "INSERT INTO aml_activation_requests (scenario_id, version_id, requested_by, reason) "
            "VALUES (:s, :v, :u, 'secret-activation-reason') RETURNING id"),
            {"s": scenario_id, "v": version_id, "u": env.owner_id}))


@case("Mutation.approveAmlActivation")
async def approve_activation(env: Env) -> Probe:
    request_id = await _activation(env)
    return Probe("mutation($r: ID!) { approveAmlActivation(requestId: $r) { request { reason } errors { code } } }",
                 {"r": str(request_id)}, secrets=["secret-activation-reason"])


@case("Mutation.rejectAmlActivation")
async def reject_activation(env: Env) -> Probe:
    request_id = await _activation(env)
    return Probe("mutation($r: ID!) { rejectAmlActivation(requestId: $r, reason: \"x\") { request { reason } "
                 "errors { code } } }", {"r": str(request_id)}, secrets=["secret-activation-reason"])


CASE_MUTATIONS: dict[str, str] = {
    "Mutation.assignAmlCase": "assignAmlCase(caseId: $c, assigneeId: null) { case { team } errors { code } }",
    "Mutation.setAmlCaseStatus": "setAmlCaseStatus(caseId: $c, status: INVESTIGATING) { case { team } errors { code } }",
    "Mutation.addAmlCaseNote": "addAmlCaseNote(caseId: $c, body: \"x\") { note { body } errors { code } }",
    "Mutation.closeAmlCase": "closeAmlCase(caseId: $c, outcome: FALSE_POSITIVE, note: \"x\") { case { team } "
                             "errors { code } }",
}


def _case_mutation(name: str) -> Any:
    async def probe(env: Env) -> Probe:
        case_id = await _case(env)
        return Probe(f"mutation($c: ID!) {{ {CASE_MUTATIONS[name]} }}", {"c": str(case_id)}, secrets=CASE_SECRETS)

    return probe


for _name in CASE_MUTATIONS:
    case(_name)(_case_mutation(_name))


PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@case("Mutation.addAmlCaseAttachment")
async def add_case_attachment(env: Env) -> Probe:
    case_id = await _case(env)
    return Probe("mutation($c: ID!, $f: Upload!) { addAmlCaseAttachment(caseId: $c, file: $f, description: \"x\") { "
                 "attachment { id } errors { code } } }", {"c": str(case_id)}, secrets=CASE_SECRETS,
                 files={"f": ("secret.pdf", PDF)})


@case("Mutation.amlCaseAttachmentLink")
async def case_attachment_link(env: Env) -> Probe:
    case_id = await _case(env)
    async with env.session_factory() as s, s.begin():
        attachment_id = await s.scalar(text(
            "INSERT INTO aml_case_attachments (case_id, filename, content_type, size_bytes, sha256, storage_key, "
            "description, uploaded_by) VALUES (:c, 'secret-file.pdf', 'application/pdf', 1, repeat('0', 64), :k, "
            "'secret-description', :u) RETURNING id"),
            {"c": case_id, "k": f"aml-cases/{case_id}/{uuid.uuid4().hex}", "u": env.owner_id})
    return Probe("mutation($a: ID!) { amlCaseAttachmentLink(attachmentId: $a) { link { url } errors { code } } }",
                 {"a": str(attachment_id)}, secrets=["secret-file.pdf", "secret-description", "/documents/aml/"])


@case("Query.amlCases")
async def cases_of_client(env: Env) -> Probe:
    await _case(env)
    return Probe("query($u: ID) { amlCases(userId: $u, first: 5) { nodes { team notes(first: 5) { nodes { body } } } } }",
                 {"u": str(env.owner_id)}, secrets=CASE_SECRETS)


@case("Query.amlDecisions")
async def decisions_of_client(env: Env) -> Probe:
    await _decision(env)
    return Probe("query($u: ID) { amlDecisions(userId: $u, first: 5) { nodes { score explain { rule } } } }",
                 {"u": str(env.owner_id)}, secrets=DECISION_SECRETS)


@case("Mutation.releaseAmlHold")
async def release_hold(env: Env) -> Probe:
    decision_id = await _decision(env)
    return Probe("mutation($d: ID!) { releaseAmlHold(decisionId: $d, reason: \"x\") { decision { explain { rule } } "
                 "errors { code } } }", {"d": str(decision_id)}, secrets=DECISION_SECRETS)


@case("Mutation.declineAmlHold")
async def decline_hold(env: Env) -> Probe:
    decision_id = await _decision(env)
    return Probe("mutation($d: ID!) { declineAmlHold(decisionId: $d, reason: \"x\") { decision { explain { rule } } "
                 "errors { code } } }", {"d": str(decision_id)}, secrets=DECISION_SECRETS)


@case("Query.screeningRun")
async def screening_run(env: Env) -> Probe:
    """A re-screening run is for compliance staff only (it names a list and what it found)."""
    async with env.session_factory() as s, s.begin():
        run_id = await s.scalar(text(
            "INSERT INTO screening_runs (kind, trigger, status, list_name, matcher_version, threshold) VALUES "
            "('full', 'manual', 'completed', 'secret-screening-list', 'tenancy', 0.8) RETURNING id"))
    return Probe("query($i: ID!) { screeningRun(id: $i) { listName hitsFound } }", {"i": str(run_id)},
                 secrets=["secret-screening-list"])
