"""Cross-tenant cases for suspicious transaction reports (imported by cases.py): reports are for staff holding
compliance.reports only; the reported client, another client, staff without the permission and desk staff
never reach a report, its narrative or its case's reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case
from tests.tenancy.cases_aml import _case

SECRETS = ["secret-narrative", "secret-action"]


async def _report(env: Env) -> tuple[int, int]:
    case_id = await _case(env)
    async with env.session_factory() as s, s.begin():
        await s.execute(text("UPDATE aml_cases SET status = 'closed', outcome = 'risk_confirmed', closing_note = 'x', "
                             "closed_at = now() WHERE id = :c"), {"c": case_id})
        report_id = await s.scalar(text(
            "INSERT INTO aml_reports (case_id, user_id, report_code, status, reason, action, indicators, payment_ids, "
            "created_by, submitted_by, submitted_at) VALUES (:c, :u, 'STR', 'pending_approval', 'secret-narrative', "
            "'secret-action', '{UNUSU}', '{}', :u, :u, now()) RETURNING id"), {"c": case_id, "u": env.owner_id})
    return case_id, int(report_id)


REPORT_MUTATIONS: dict[str, str] = {
    "Mutation.updateAmlReport": "updateAmlReport(reportId: $r, reason: \"x\") { report { reason } errors { code } }",
    "Mutation.submitAmlReport": "submitAmlReport(reportId: $r) { report { reason } errors { code } }",
    "Mutation.approveAmlReport": "approveAmlReport(reportId: $r) { report { reason } errors { code } }",
    "Mutation.returnAmlReport": "returnAmlReport(reportId: $r, reason: \"x\") { report { reason } errors { code } }",
    "Mutation.exportAmlReport": "exportAmlReport(reportId: $r) { xml report { reason } errors { code } }",
    "Mutation.recordAmlReportFiuStatus": "recordAmlReportFiuStatus(reportId: $r, status: ACCEPTED, "
                                         "on: \"2026-01-01\", reference: \"x\") { report { reason } errors { code } }",
}


def _report_mutation(name: str) -> Any:
    async def probe(env: Env) -> Probe:
        _, report_id = await _report(env)
        return Probe(f"mutation($r: ID!) {{ {REPORT_MUTATIONS[name]} }}", {"r": str(report_id)}, secrets=SECRETS)

    return probe


for _name in REPORT_MUTATIONS:
    case(_name)(_report_mutation(_name))


@case("Mutation.createAmlReport")
async def create_report(env: Env) -> Probe:
    case_id, _ = await _report(env)
    return Probe("mutation($c: ID!) { createAmlReport(caseId: $c, reportCode: STR, reason: \"x\", "
                 "indicators: [\"UNUSU\"]) { report { reason } errors { code } } }", {"c": str(case_id)},
                 secrets=SECRETS)


@case("Query.amlReports")
async def reports_of_case(env: Env) -> Probe:
    case_id, _ = await _report(env)
    return Probe("query($c: ID) { amlReports(caseId: $c, first: 5) { nodes { reason action } } }",
                 {"c": str(case_id)}, secrets=SECRETS)
