"""A goAML STR built and validated (domain/compliance/aml/reports.py `build_document`: the case's client, the
report's payments and their FX rates read, the document built and validated against the FIU's XSD) against an
anchor in the same run: lxml parsing and validating that same document alone (bytes in, the compiled XSD).
The report names `payments` alerted payments of one client in two currencies (--quick 20, else 200) and a quarter
as many held wallet -> trading account transfers. Figures are
per document, wall and process CPU; the XSD is compiled once per process before either is timed.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import orjson
from lxml import etree
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import bench_services
from domain.compliance.aml import reports
from domain.compliance.aml.goaml.schema import schema
from domain.fx.port import FxSettings
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings

PROFILE = {"phone": "+35799123456", "nationality": "RU", "occupation": "Engineer",
           "address": {"line": "12 Oak Street", "city": "Limassol", "postal_code": "3035", "country": "CY"},
           "tax_residencies": [{"country": "CY", "tin": "12345678X"}]}


async def _seed(session: AsyncSession, payments: int) -> tuple[int, int]:
    """(staff id, case id): a closed, risk-confirmed case whose alerts name `payments` payments."""
    tag = uuid.uuid4().hex[:8]
    staff = await session.scalar(text("INSERT INTO users (email, email_normalized, is_staff) VALUES (:e, :e, true) "
                                      "RETURNING id"), {"e": f"mlro-{tag}@bench.example"})
    uid = await session.scalar(text("INSERT INTO users (email, email_normalized, is_client) VALUES (:e, :e, true) "
                                    "RETURNING id"), {"e": f"client-{tag}@bench.example"})
    await session.execute(text(
        "INSERT INTO clients (user_id, status, first_name, last_name, date_of_birth, country, profile) "
        "VALUES (:u, 'active', 'Ivan', 'Petrov', '1980-05-17', 'CY', :p)"),
        {"u": uid, "p": orjson.dumps(PROFILE).decode()})
    await session.execute(text("INSERT INTO fx_rates (source, base, quote, rate, rate_time) VALUES "
                               "(:s, 'EUR', 'USD', 1.0870, now())"), {"s": FxSettings().source})
    scenario = await session.scalar(text("INSERT INTO aml_scenarios (name) VALUES (:n) RETURNING id"), {"n": tag})
    version = await session.scalar(text(
        "INSERT INTO aml_scenario_versions (scenario_id, version, status, document, triggers, committed_at) "
        "VALUES (:s, 1, 'committed', '{}', '{deposit}', now()) RETURNING id"), {"s": scenario})
    case_id = await session.scalar(text(
        "INSERT INTO aml_cases (user_id, team, status, outcome, closing_note, sla_due_at, closed_at) VALUES "
        "(:u, 'compliance', 'closed', 'risk_confirmed', 'bench', now(), now()) RETURNING id"), {"u": uid})
    await session.execute(text(
        "WITH p AS (INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, "
        "amount, country, status, payer_name, correlation_id, created_at) "
        "SELECT 'B' || :t || g, :u, CASE WHEN g % 2 = 0 THEN 'deposit' ELSE 'withdrawal' END, 'visa', "
        "CASE WHEN g % 2 = 0 THEN 'card' ELSE 'wire' END, 'psp', CASE WHEN g % 2 = 0 THEN 'USD' ELSE 'EUR' END, "
        "1000 + g * 7.25, 'RU', 'succeeded', CASE WHEN g % 4 = 0 THEN 'Maria Ivanova' END, gen_random_uuid(), "
        "now() - make_interval(hours => g) FROM generate_series(1, :n) g RETURNING id) "
        "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, payment_id, event, score, outcome, "
        "explain, case_id) SELECT :s, :v, :u, 'deposit', id, '{}', 60, 'review', '[]', :c FROM p"),
        {"t": tag, "u": uid, "n": payments, "s": scenario, "v": version, "c": case_id})
    # A quarter as many held wallet -> trading account transfers, each a transaction of the report too.
    for purpose, server, login in (("client_wallet", None, None), ("trading_account_mirror", "mt5-live", 700123)):
        await session.execute(text("INSERT INTO ledger_accounts (type, purpose, currency, owner_id, server_id, login) "
                                   "VALUES ('liability', :p, 'USD', :u, :s, :l)"),
                              {"p": purpose, "u": uid, "s": server, "l": login})
    await session.execute(text(
        "WITH a AS (SELECT min(id) FILTER (WHERE purpose = 'client_wallet') AS w, "
        "min(id) FILTER (WHERE purpose = 'trading_account_mirror') AS m FROM ledger_accounts WHERE owner_id = :u), "
        "t AS (INSERT INTO ledger_transfers (external_id, user_id, direction, wallet_account_id, mirror_account_id, "
        "server_id, login, currency, amount, status, idem_scope, idem_key, created_at) SELECT gen_random_uuid(), :u, "
        "'to_account', a.w, a.m, 'mt5-live', 700123, 'USD', 500 + g, 'held', 'bench', :t || g, "
        "now() - make_interval(mins => g) FROM a, generate_series(1, :n) g RETURNING id) "
        "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, subject, event, score, outcome, "
        "explain, case_id, hold_status) SELECT :s, :v, :u, 'transfer', 'transfer:' || id, '{}', 60, 'block', '[]', "
        ":c, 'held' FROM t"),
        {"t": tag, "u": uid, "n": transfers(payments), "s": scenario, "v": version, "c": case_id})
    return int(staff), int(case_id)


def transfers(payments: int) -> int:
    return payments // 4


async def run(*, quick: bool = False) -> dict[str, Any]:
    payments, rounds = (20, 20) if quick else (200, 50)
    settings = Settings()
    async with bench_services("aml_reports") as (db_url, _redis_url):
        engine = create_engine(db_url, settings, pool_size=2)
        factory = create_session_factory(engine)
        try:
            staff, case_id = await in_transaction(factory, lambda s: _seed(s, payments))
            actor = Actor(ActorKind.STAFF, user_id=staff)
            await in_transaction(factory, lambda s: reports.set_reporting_entity(s, actor, reports.EntityInput(
                rentity_id=4711, name="Acme FX Ltd", local_currency="EUR", country="CY", address="1 Makarios Avenue",
                city="Limassol", contact_first_name="Anna", contact_last_name="Georgiou")))
            report = await in_transaction(factory, lambda s: reports.create_report(
                s, actor, case_id, code="STR", reason="Rapid in and out, third-party cards", action="Account frozen",
                indicators=["UNUSU", "FRQDW"]))
            schema()  # compiled once per process, outside both timings
            document = await in_transaction(factory, lambda s: reports.build_document(s, report))
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(rounds):
                built = await in_transaction(factory, lambda s: reports.build_document(s, report))
            build_wall, build_cpu = (time.perf_counter() - wall) / rounds, (time.process_time() - cpu) / rounds
        finally:
            await engine.dispose()
    assert built.count(b"<transaction>") == payments + transfers(payments)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        assert schema().validate(etree.fromstring(document))
    anchor_wall, anchor_cpu = (time.perf_counter() - wall) / rounds, (time.process_time() - cpu) / rounds
    return {
        "payments": payments, "transfers": transfers(payments), "rounds": rounds, "document_bytes": len(document),
        "run": {"ms_per_report": round(build_wall * 1000, 2), "cpu_ms_per_report": round(build_cpu * 1000, 2),
                "what": "read case, client, payments, transfers and FX rates; build; validate against the XSD"},
        "anchor": {"ms_per_report": round(anchor_wall * 1000, 2), "cpu_ms_per_report": round(anchor_cpu * 1000, 2),
                   "what": "lxml parse + XSD validation of the same document alone"},
        "ratio": round(anchor_cpu / build_cpu, 4) if build_cpu else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
