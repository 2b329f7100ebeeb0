"""Cross-tenant cases for reconciliation runs and breaks (staff with reconciliation.manage only)."""

from __future__ import annotations

import uuid

from domain.reconciliation import breaks, runs, settlement
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.pagination import PageRequest
from tests.tenancy.cases import Env, Probe, case


async def _break(env: Env) -> tuple[int, int, str]:
    """(run id, break id, secret reference) from a settled PSP line nobody posted."""
    provider, ref = f"psp{uuid.uuid4().hex[:8]}", f"secret-ref-{uuid.uuid4().hex[:8]}"
    actor = system_actor("tenancy")
    start = utcnow()
    csv = f"provider,reference,amount,currency,fee,settled_at,status\n{provider},{ref},9.99,USD,0,{utcnow().isoformat()},settled\n"
    await in_transaction(env.session_factory, lambda s: settlement.import_csv(s, actor, provider, csv))
    cut = utcnow()
    run = await in_transaction(env.session_factory,
                               lambda s: runs.run_reconciliation(s, actor, cut, window=cut - start))
    async with env.session_factory() as s:
        page = await breaks.list_breaks(s, run_id=run.id, status=None, kind=None, page=PageRequest(size=5))
    brk = next(b for b in page.items if ref in b.key)
    return run.id, brk.id, ref


@case("Query.reconciliationRun")
async def reconciliation_run(env: Env) -> Probe:
    run_id, _, _ = await _break(env)
    return Probe("query($i: ID!) { reconciliationRun(id: $i) { id summary { breaks } } }", {"i": str(run_id)})


@case("Query.reconciliationBreaks")
async def reconciliation_breaks(env: Env) -> Probe:
    run_id, _, ref = await _break(env)
    return Probe("query($i: ID!) { reconciliationBreaks(filter: {runId: $i}) { nodes { key evidence } } }",
                 {"i": str(run_id)}, [ref])


@case("Mutation.assignBreak")
async def assign_break(env: Env) -> Probe:
    _, break_id, ref = await _break(env)
    return Probe("mutation($i: ID!, $u: ID!) { assignBreak(id: $i, userId: $u) { reconciliationBreak { key } "
                 "errors { code } } }", {"i": str(break_id), "u": str(env.owner_id)}, [ref])


@case("Mutation.commentOnBreak")
async def comment_on_break(env: Env) -> Probe:
    _, break_id, ref = await _break(env)
    return Probe("mutation($i: ID!) { commentOnBreak(id: $i, text: \"x\") { comment { text } errors { code } } }",
                 {"i": str(break_id)}, [ref])


@case("Mutation.resolveBreak")
async def resolve_break(env: Env) -> Probe:
    _, break_id, ref = await _break(env)
    return Probe("mutation($i: ID!) { resolveBreak(id: $i, resolution: {explanation: \"x\"}) {"
                 " reconciliationBreak { key } errors { code } } }", {"i": str(break_id)}, [ref])


@case("Mutation.signOffClientMoney")
async def sign_off_client_money(env: Env) -> Probe:
    run_id, _, _ = await _break(env)
    return Probe("mutation($i: ID!) { signOffClientMoney(runId: $i, note: \"x\") { signOff { signedAt lines {"
                 " currency requirement } } errors { code } } }", {"i": str(run_id)})


@case("Query.bankStatementEntries")
async def bank_statement_entries(env: Env) -> Probe:
    from sqlalchemy import text

    remittance = f"secret-remittance-{uuid.uuid4().hex[:8]}"
    async with env.session_factory() as s, s.begin():
        sid = int(await s.scalar(text(
            "INSERT INTO bank_statements (iban, statement_id, version, message_id, sha256, entry_count) VALUES "
            "('CY17002001280000001200527600', :st, '08', :m, repeat('0', 64), 1) RETURNING id"),
            {"st": f"ten-{uuid.uuid4().hex[:12]}", "m": f"ten-{uuid.uuid4().hex[:12]}"}))
        await s.execute(text(
            "INSERT INTO bank_statement_entries (statement_id, line_no, amount, currency, credit, status, "
            "remittance) VALUES (:s, 1, 12.34, 'EUR', true, 'BOOK', :r)"), {"s": sid, "r": remittance})
    return Probe("query($s: ID!) { bankStatementEntries(statementId: $s) { nodes { lineNo amount remittance } } }",
                 {"s": str(sid)}, secrets=[remittance])
