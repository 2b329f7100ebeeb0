"""The staff API over HTTP: import a report, run, list, and work a break; refusals are typed."""

from __future__ import annotations

import uuid

from domain.shared.db import utcnow
from tests.identity.staff import make_staff

BREAK_FIELDS = "id kind section status key amountDiff evidence suggestedCause assigneeId explanation comments { text }"


async def test_staff_imports_runs_and_works_a_break(http, session_factory, settings) -> None:
    staff = await make_staff(http, session_factory, settings, ["finance"])
    gql = staff.client
    provider = f"psp{uuid.uuid4().hex[:8]}"
    csv = (f"provider,reference,amount,currency,fee,settled_at,status\n"
           f"{provider},gql-ref,5.55,USD,0,{utcnow().isoformat()},settled\n")

    imported = await gql("mutation($p: String!, $c: String!) { importSettlementReport(provider: $p, csv: $c) {"
                         " report { lineCount replayed } errors { code } } }", {"p": provider, "c": csv})
    bad = await gql("mutation($p: String!) { importSettlementReport(provider: $p, csv: \"nope\") {"
                    " report { id } errors { code field } } }", {"p": provider})
    ran = await gql("mutation($c: DateTime!) { runReconciliation(cutoff: $c) { run { id attempts summary {"
                    " breaks sections { section matched breaks byKind { kind count } } } } errors { code } } }",
                    {"c": utcnow().isoformat()})
    run = ran["data"]["runReconciliation"]["run"]
    listed = await gql("query($r: ID!) { reconciliationBreaks(filter: {runId: $r, kind: MISSING_IN_LEDGER, "
                       f"status: OPEN}}, first: 100) {{ nodes {{ {BREAK_FIELDS} }} }} }}", {"r": run["id"]})
    [brk] = [b for b in listed["data"]["reconciliationBreaks"]["nodes"] if "gql-ref" in b["key"]]
    assigned = await gql("mutation($i: ID!, $u: ID!) { assignBreak(id: $i, userId: $u) {"
                         " reconciliationBreak { assigneeId } errors { code } } }",
                         {"i": brk["id"], "u": str(staff.user_id)})
    commented = await gql("mutation($i: ID!) { commentOnBreak(id: $i, text: \"webhook log checked\") {"
                          " comment { text } errors { code } } }", {"i": brk["id"]})
    resolved = await gql("mutation($i: ID!) { resolveBreak(id: $i, resolution: {explanation: \"test line\"}) {"
                         f" reconciliationBreak {{ {BREAK_FIELDS} }} errors {{ code }} }} }}", {"i": brk["id"]})
    again = await gql("mutation($i: ID!) { resolveBreak(id: $i, resolution: {explanation: \"twice\"}) {"
                      " reconciliationBreak { id } errors { code } } }", {"i": brk["id"]})
    runs = await gql("{ reconciliationRuns(first: 5) { nodes { id } pageInfo { hasNextPage } } }")
    one = await gql("query($i: ID!) { reconciliationRun(id: $i) { id summary { breaks } } }", {"i": run["id"]})
    missing = await gql("query { reconciliationRun(id: \"999999999\") { id } }")

    assert imported["data"]["importSettlementReport"] == {"report": {"lineCount": 1, "replayed": False},
                                                         "errors": []}
    assert bad["data"]["importSettlementReport"] == {
        "report": None, "errors": [{"code": "INVALID_SETTLEMENT_REPORT", "field": "csv"}]}
    assert ran["data"]["runReconciliation"]["errors"] == [] and run["summary"]["breaks"] >= 1
    assert brk["section"] == "PSP" and brk["evidence"]["psp"]["amount"] == "5.55"
    assert assigned["data"]["assignBreak"] == {"reconciliationBreak": {"assigneeId": str(staff.user_id)},
                                               "errors": []}
    assert commented["data"]["commentOnBreak"]["comment"] == {"text": "webhook log checked"}
    closed = resolved["data"]["resolveBreak"]["reconciliationBreak"]
    assert closed["status"] == "EXPLAINED" and closed["comments"] == [{"text": "webhook log checked"}]
    assert again["data"]["resolveBreak"] == {"reconciliationBreak": None, "errors": [{"code": "BREAK_ALREADY_CLOSED"}]}
    assert run["id"] in [n["id"] for n in runs["data"]["reconciliationRuns"]["nodes"]]
    assert one["data"]["reconciliationRun"]["id"] == run["id"]
    assert missing["errors"][0]["extensions"]["code"] == "RECONCILIATION_RUN_NOT_FOUND"


async def test_staff_without_the_permission_is_refused(http, session_factory, settings) -> None:
    sales = await make_staff(http, session_factory, settings, ["sales"])

    body = await sales.client("mutation { runReconciliation { run { id } errors { code } } }")

    assert body["data"] is None or body["data"].get("runReconciliation") is None
    assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "PERMISSION_DENIED"}
