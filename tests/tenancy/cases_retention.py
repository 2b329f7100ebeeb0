"""Cross-tenant cases for retention and erasure (imported by cases.py): a client's legal holds and
erasure requests are for staff holding the retention permissions only."""

from __future__ import annotations

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case
from tests.tenancy.cases_clients import _owner_client


@case("Query.legalHolds")
async def legal_holds(env: Env) -> Probe:
    cid = await _owner_client(env)
    async with env.session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO legal_holds (client_id, reason, released_at) VALUES "
                             "(:c, 'secret-hold-reason', now())"), {"c": cid})
    return Probe("query($c: ID!) { legalHolds(clientId: $c) { reason } }", {"c": str(cid)},
                 secrets=["secret-hold-reason"])


@case("Mutation.placeLegalHold", "Mutation.releaseLegalHold")
async def place_or_release_hold(env: Env) -> Probe:
    cid = await _owner_client(env)
    return Probe("mutation($c: ID!) { placeLegalHold(clientId: $c, reason: \"x\") { hold { reason } "
                 "errors { code } } }", {"c": str(cid)})


@case("Mutation.decideErasureRequest")
async def decide_erasure(env: Env) -> Probe:
    cid = await _owner_client(env)
    async with env.session_factory() as s, s.begin():
        request_id = await s.scalar(text(
            "INSERT INTO erasure_requests (client_id, reason, status) VALUES (:c, 'secret-erasure-reason', 'rejected') "
            "RETURNING id"), {"c": cid})
    return Probe("mutation($i: ID!) { decideErasureRequest(requestId: $i, approve: false, reason: \"x\") { "
                 "request { reason } errors { code } } }", {"i": str(request_id)}, secrets=["secret-erasure-reason"])
