"""Cross-tenant cases for records on request: the owner's communications and leverage requests are
listed and exported only for staff with audit.read (back office), never for another client, staff
without it, or desk staff on another desk."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case


async def _owner_record(env: Env) -> tuple[int, str]:
    """A communication on the owner's client record; returns (clients.id, its subject)."""
    subject = f"secret-call-{uuid.uuid4().hex[:10]}"
    async with env.session_factory() as s, s.begin():
        record = int(await s.scalar(text("SELECT id FROM clients WHERE user_id = :u"), {"u": env.owner_id}))
        await s.execute(text("INSERT INTO client_communications (client_id, kind, direction, subject, body) "
                             "VALUES (:c, 'call', 'out', :s, 'private')"), {"c": record, "s": subject})
    return record, subject


@case("Query.regulatorRecords")
async def regulator_records(env: Env) -> Probe:
    record, subject = await _owner_record(env)
    return Probe("query($c: ID!) { regulatorRecords(kind: COMMUNICATION, filter: {clientId: $c}) { "
                 "edges { node { ... on CommunicationRecord { subject body } } } } }", {"c": str(record)}, [subject])


@case("Mutation.regulatorRecordsExportLink")
async def regulator_records_export_link(env: Env) -> Probe:
    record, subject = await _owner_record(env)
    return Probe("mutation($c: ID!) { regulatorRecordsExportLink(kind: COMMUNICATION, format: CSV, "
                 "filter: {clientId: $c}) { link { url } errors { code } } }", {"c": str(record)},
                 [subject, "/documents/records/"])
