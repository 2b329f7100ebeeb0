"""The test run decides every payment as the inline engine does on the same history.

The inline decision reads each aggregate with one statement per payment (engine.statement); the test
run keeps the payments' and deals' aggregates as sliding windows over each client's history
(domain/compliance/aml/windows.py). On a seeded population (bench/aml_population.py, in 1998, away
from every other test's payments) with the cases where the two could part added by hand (two
payments of a client at one instant, a payment exactly a window's length before another, other
currencies, failed payments, no country, a deal at a payment's very instant, a method's maximum),
every payment's score and the rules it hit are the same, whole period or part of it, and a
truncated run keeps the earliest hits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bench.aml_population import seed
from bench.scenarios.aml import twenty_rules
from domain.compliance.aml import engine, test_runs
from domain.compliance.aml.rules import compile_document
from domain.shared.db import driver

BASE = datetime(1998, 6, 1, tzinfo=UTC)


def _agg(fn: str, window: dict[str, int], of: str | None = None, source: str = "payments",
         **where: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"agg": fn, "window": window, "source": source}
    if of:
        spec["of"] = of
    if where:
        spec["where"] = where
    return spec


def _gte(left: dict[str, Any], right: Any) -> dict[str, Any]:
    return {"cmp": "gte", "left": left, "right": {"const": right}}


EXTRA = [
    ("same_method_30d", _gte(_agg("count", {"days": 30}, same_method=True), 2)),
    ("near_method_max_7d", _gte(_agg("count", {"days": 7}, direction="deposit", amount_gte_method_max_share="0.9"), 1)),
    ("card_sum_30d", _gte(_agg("sum", {"days": 30}, "amount", method_kind=["card"]), 3000)),
    ("high_risk_90d", _gte(_agg("count", {"days": 90}, country_in_list="high_risk_countries"), 1)),
    ("avg_deposit_30d", _gte(_agg("avg", {"days": 30}, "amount", direction="deposit"), 2000)),
    ("max_withdrawal_7d", _gte(_agg("max", {"days": 7}, "amount", direction="withdrawal"), 100)),
    ("deal_volume_max_1d", _gte(_agg("max", {"days": 1}, "volume", source="deals"), "0.1")),
    ("deal_logins_90d", _gte(_agg("count_distinct", {"days": 90}, "login", source="deals"), 1)),
    ("deals_exact_7d", _gte(_agg("count", {"days": 7}, source="deals"), 4)),
    ("dormant_3d", _gte({"field": "days_since_last_payment"}, 3)),
    ("transfers_30d", _gte(_agg("count", {"days": 30}, source="transfers"), 1)),
    ("hour_count", _gte(_agg("count", {"hours": 1}), 1)),
    ("sum_7d_exact", _gte(_agg("sum", {"days": 7}, "amount"), 1000)),
    ("failed_30d", _gte(_agg("count", {"days": 30}, status=["failed", "cancelled"]), 1)),
    ("payers_all_30d", _gte(_agg("count_distinct", {"days": 30}, "payer_name"), 2)),
    ("countries_7d", _gte(_agg("count_distinct", {"days": 7}, "country"), 2)),
]


def document() -> dict[str, Any]:
    rules = [{**r, "score": 1} for r in twenty_rules()["rules"]]
    rules += [{"name": name, "score": 1, "when": when} for name, when in EXTRA]
    return {"triggers": ["deposit", "withdrawal"], "thresholds": {"review": 1, "block": 8, "decline": 12},
            "rules": rules}


# Edge cases on the population's ordinary clients 1 to 4 (their payments' references end in k<n>).
EDGES = """
-- Two payments of one client at one instant: the other one is in each one's history.
INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, country,
                      status, payer_name, card_bin_country, instrument, correlation_id, created_at, updated_at)
SELECT reference || 'peer', user_id, direction, method_code, method_kind, provider, currency, amount + 3000, 'IR',
       status, 'Someone Else', card_bin_country, instrument || 'x', gen_random_uuid(), created_at, created_at
FROM payments WHERE user_id = ANY($1::bigint[]) AND reference LIKE '%k3';
-- Exactly 7 and 30 days before a payment: outside its window (`> t - window`).
INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, country,
                      status, payer_name, card_bin_country, instrument, correlation_id, created_at, updated_at)
SELECT reference || 'b' || d, user_id, 'deposit', method_code, method_kind, provider, currency, 9500, country,
       'succeeded', payer_name, card_bin_country, instrument, gen_random_uuid(),
       created_at - make_interval(days => d), created_at - make_interval(days => d)
FROM payments, unnest(ARRAY[1, 7, 30]) d WHERE user_id = ANY($1::bigint[]) AND reference LIKE '%k6';
-- Another currency, a failed payment, a payment with no country, a method with a maximum.
INSERT INTO payments (reference, user_id, direction, method_code, method_kind, provider, currency, amount, country,
                      status, payer_name, card_bin_country, instrument, correlation_id, created_at, updated_at)
SELECT reference || v.suffix, user_id, 'deposit', coalesce(v.method, method_code), v.kind, provider, v.currency,
       v.amount, v.country, v.status, payer_name, card_bin_country, instrument, gen_random_uuid(),
       created_at + interval '1 hour', created_at + interval '1 hour'
FROM payments, (VALUES ('eur', NULL, 'card', 'EUR', 4000, 'DE', 'succeeded'),
                       ('fail', NULL, 'card', 'USD', 7000, 'DE', 'failed'),
                       ('noc', NULL, 'wire', 'USD', 2500, NULL, 'succeeded'),
                       ('max', 'max-' || $2, 'card', 'USD', 950, 'FR', 'succeeded')) v(suffix, method, kind, currency,
                                                                                     amount, country, status)
WHERE user_id = ANY($1::bigint[]) AND reference LIKE '%k8';
-- A deal at a payment's very instant (in its window) and one a day and a microsecond earlier.
INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, order_id, position_id, action, entry, symbol,
    price, volume, profit, commission, storage, fee, reason, contract_size, rate_profit, rate_margin, batch_id)
SELECT ta.server_id, 900000000 + p.id * 10 + d, date_trunc('milliseconds', p.created_at) - make_interval(days => d),
       0, ta.login, 1, 1, 0, 0, 'XAUUSD', 1, 0.5, 0, 0, 0, 0, 0, 100, 1, 1, gen_random_uuid()
FROM payments p JOIN trading_accounts ta ON ta.user_id = p.user_id, generate_series(0, 1) d
WHERE p.user_id = ANY($1::bigint[]) AND p.reference LIKE '%k10';
"""


@pytest.fixture(scope="module")
async def population(runtime: Any) -> Any:
    factory = runtime.services.session_factory
    tag = uuid.uuid4().hex[:5]
    async with factory() as s:
        conn = await driver(s)
        await s.rollback()
        pop = await seed(conn, tag=tag, base=BASE, ordinary=40, planted_each=2, payments_each=15)
        edge = sorted(pop.ordinary)[:4]
        await conn.execute("INSERT INTO payment_methods (code, kind, provider, currency, max_amount) "
                           "VALUES ($1, 'card', 'pop', 'USD', 1000)", f"max-{tag}")
        for stmt in EDGES.split(";\n"):
            if stmt.strip():
                await conn.execute(stmt, edge, *((tag,) if "$2" in stmt else ()))
        return pop


async def inline_decisions(session: Any, program: Any, since: datetime, until: datetime,
                           users: set[int]) -> dict[int, tuple[Decimal, list[str]]]:
    """Each payment of the period scored by the inline statement: (score, rules hit)."""
    conn = await driver(session)
    lists = await engine.load_lists(session, program.lists)
    stmt = engine.statement([program], lists, "p.id = $1")
    ids = [r["id"] for r in await conn.fetch(
        "SELECT id FROM payments WHERE created_at >= $1 AND created_at < $2 AND user_id = ANY($3::bigint[]) "
        "AND (direction = 'withdrawal' OR status IN ('succeeded', 'refunded', 'charged_back'))",
        since, until, sorted(users))]
    out = {}
    for pid in ids:
        row = await conn.fetchrow(stmt.sql, pid)
        name = engine.name_similarity(row["payer_name"], row["client_name"]) if program.uses_name else None
        env = engine.environment(row, stmt, program, lists, name)
        scored = engine.score(program, env, explain=False)
        out[pid] = (scored.score, [r.name for r in program.rules if r.when(env)])
    return out


@pytest.mark.parametrize("days", [130, 10], ids=["whole-history", "last-10-days"])
async def test_the_test_run_scores_every_payment_as_the_inline_engine(
        population: Any, session_factory: Any, days: int) -> None:
    program = compile_document(document())
    users = population.ordinary | set().union(*population.planted.values())
    since, until = BASE - timedelta(days=days), BASE + timedelta(days=1)
    async with session_factory() as s, s.begin():
        inline = await inline_decisions(s, program, since, until, users)
        run = await test_runs.test_run(s, program, program, since=since, until=until, max_hits=10**6)
    assert len(inline) > (400 if days > 100 else 40)
    raised = {pid: v for pid, v in inline.items() if v[0] > 0}
    assert len(raised) > len(inline) / 4 and len(raised) < len(inline)  # the rules tell payments apart
    hits = {h.payment_id: (h.draft_score, h.draft_rules) for h in run.hits if h.user_id in users}
    assert hits == raised
    assert all(h.live_score == h.draft_score for h in run.hits)
    assert run.evaluated >= len(inline) and not run.hits_truncated
    mine = [h for h in run.hits if h.user_id in users]
    assert [(h.at, h.payment_id) for h in mine] == sorted((h.at, h.payment_id) for h in mine)


async def test_a_truncated_run_keeps_the_earliest_hits(population: Any, session_factory: Any) -> None:
    program = compile_document(document())
    since, until = BASE - timedelta(days=130), BASE + timedelta(days=1)
    async with session_factory() as s, s.begin():
        whole = await test_runs.test_run(s, program, None, since=since, until=until, max_hits=10**6)
        cut = await test_runs.test_run(s, program, None, since=since, until=until, max_hits=7)
    assert cut.hits_truncated and len(cut.hits) == 7
    assert [h.payment_id for h in cut.hits] == [h.payment_id for h in whole.hits[:7]]
    assert cut.draft_counts == whole.draft_counts and cut.evaluated == whole.evaluated
