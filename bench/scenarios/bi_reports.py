"""BI dashboards over the daily rollups beside the same figures by a plain GROUP BY over raw deals, in
the same run on the same database; and the rollups' cost beside deal ingestion.

Seeded with INSERT ... SELECT: clients (users, clients on 8 desks in 12 countries, one trading account
each in 4 groups mapped to A, B and hybrid books, a markup on one group) and buy/sell deals over the
last 60 days on 8 symbols. The rollups are then built by `rollups.rebuild` over the period (equal to
the incremental path: tests/reporting/test_rollups.py). Measured path: the domain report functions
(`reports.revenue`), each sample in its own session as an API request would run them: revenue by
symbol per day over 30 days, by group per week and by book per month over 60 days, by desk per day over
7 days. Anchor: the same figures (volume, commission, fee, swap, client P&L per key and day) by a plain
GROUP BY over trading_deals for the period: the cheaper half of the real figure (no book share, no
markup, no currency conversion), so the ratio is conservative.

Quick: 200,000 deals and 20,000 clients (CI). Full: BENCH_BI_DEALS / BENCH_BI_CLIENTS, by default
3,000,000 and 300,000 (what seeds in a few minutes on the shared 2-core machine; the issue's 10M/1M is
BENCH_BI_DEALS=10000000 BENCH_BI_CLIENTS=1000000).

Replica-routed reads (issue 21), only when FOREXCRM_READ_REPLICA_URL names a streaming standby of the bench's
PostgreSQL server (its database part is replaced by the bench's database): once the standby has replayed the
seeding, the revenue-by-symbol dashboard through `ReadReplica.read` beside the same dashboard on the primary,
samples alternating in the same run, with the lag each check saw. Without it the figure is skipped with a note.

Client reports (issue 21): client figures by country, campaign and IB over 30 days, cohorts by month of first
deposit over the period, and IB return over 30 days (domain/reporting/clients.py over the per-client rollup),
each beside a GROUP BY over the raw deals of what both compute (deals, trading clients, retention, IB volume)
in the same run. Seeded besides: UTM attribution, 100 IBs (10 masters with sub-IBs), every other client
attributed with a CPA commission line, and first deposits for 4 clients in 5.

Scheduled reports (issue 21): a due schedule's run produced (report, CSV, hash, run row, e-mails queued, audit,
one transaction) beside the plain report read of the same figures, alternating in the same run.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text

from bench.harness import bench_services
from bench.scenarios.deal_ingestion import _ingest, _rollups, generate_deals
from domain.reporting import clients as clients_report
from domain.reporting import funnel, reports, rollups, schedules
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import create_engine, create_session_factory
from domain.shared.replica import ReadReplica
from domain.shared.settings import Settings

SYMBOLS = (("EURUSD", "1.085", 100_000, "0.0001", "Forex"), ("GBPUSD", "1.27", 100_000, "0.0001", "Forex"),
           ("USDJPY", "150.0", 100_000, "0.01", "Forex"), ("AUDUSD", "0.66", 100_000, "0.0001", "Forex"),
           ("XAUUSD", "2350", 100, "0.01", "Metals"), ("US500", "5200", 1, "0.1", "Indices"),
           ("BTCUSD", "65000", 1, "1", "Crypto"), ("ETHUSD", "3400", 1, "0.1", "Crypto"))  # fmt: skip
GROUPS = (("real\\std", "B", 0), ("real\\raw", "A", 100), ("real\\pro", "HYBRID", 40), ("real\\vip", None, 0))
DESKS = 8
COUNTRIES = ("DE", "GB", "FR", "IT", "ES", "CY", "AE", "ZA", "AU", "SG", "BR", "")
DAYS = 60
CHUNK = 500_000


CAMPAIGNS = 10
IBS, IB_MASTERS = 100, 10  # each master IB has 9 sub-IBs below it


async def _seed_ibs_and_first_deposits(s: Any, clients: int) -> None:
    """IBs (masters with sub-IBs, the closure as domain/ib keeps it), every other client attributed to one, a
    CPA commission line per attributed client; and a first deposit for 4 clients in 5 over the last DAYS days
    (`reporting_first_deposits` as the money sweep keeps it: the ledger is not seeded, so the client rollup's
    deposits are 0 and the cohorts' depositing retention reads none after month 0)."""
    ib0 = 1000 + clients
    await s.execute(text(
        "INSERT INTO users (id, email, email_normalized) SELECT :b + i, 'ib' || i || '@example.com', "
        "'ib' || i || '@example.com' FROM generate_series(0, :n - 1) i"), {"b": ib0, "n": IBS})
    await s.execute(text("INSERT INTO ib_partners (user_id, status) SELECT :b + i, 'approved' "
                         "FROM generate_series(0, :n - 1) i"), {"b": ib0, "n": IBS})
    at = datetime(2024, 1, 1, tzinfo=UTC)
    await s.execute(text(
        "INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) SELECT :b + i, :b + i, 0, "
        "CAST(:t AS timestamptz) FROM generate_series(0, :n - 1) i UNION ALL SELECT :b + i % :m, :b + i, 1, "
        "CAST(:t AS timestamptz) "
        "FROM generate_series(:m, :n - 1) i"), {"b": ib0, "n": IBS, "m": IB_MASTERS, "t": at})
    await s.execute(text(
        "INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from) "
        "SELECT 1000 + g, :b + g / 2 % :n, 'registration', :t FROM generate_series(0, :c - 1, 2) g"),
        {"b": ib0, "n": IBS, "c": clients, "t": at})
    await s.execute(text(
        "INSERT INTO ib_commission_lines (kind, source, deal_time, client_id, ib_id, level, direct_ib_id, plan_id, "
        "plan_version_id, clause_no, clause_kind, formula, inputs, quantity, rate, fx_rate, amount, currency) "
        "SELECT 'accrual', 'cpa', now() - make_interval(days => g % :days), 1000 + g, :b + g / 2 % :n, 0, "
        ":b + g / 2 % :n, 1, 1, 1, 'cpa', 'x', '{}', 1, 1, 1, 25 + g % 50, 'USD' "
        "FROM generate_series(0, :c - 1, 2) g"), {"b": ib0, "n": IBS, "c": clients, "days": DAYS})
    await s.execute(text(
        "INSERT INTO reporting_first_deposits (user_id, entry_id, day, method, currency, country, desk, amount, "
        "amount_usd) SELECT 1000 + g, g, (now() AT TIME ZONE 'UTC')::date - g % :days, 'card', 'USD', '', "
        "'desk-' || (g % :d), 100 + g % 50, 100 + g % 50 FROM generate_series(0, :c - 1) g WHERE g % 5 <> 0"),
        {"c": clients, "days": DAYS, "d": DESKS})


def pct(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(q * len(values)))], 2)


async def _seed(factory: Any, deals: int, clients: int) -> dict[str, float]:
    started = time.perf_counter()
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO trading_servers (id, name, platform, base_url, manager_login, password_enc, created_at, "
            "updated_at) VALUES (1, 'bi', 'mt5', 'http://127.0.0.1:1', 1, 'x', now(), now())"))
        for sym, _price, cs, pip, cls in SYMBOLS:
            await s.execute(text(
                "INSERT INTO trading_instruments (server_id, symbol, canonical, asset_class, path, contract_size, "
                "base_currency, quote_currency, digits, pip_size, updated_at) VALUES (1, :s, :s, :c, :c, :cs, 'X', "
                "'USD', 5, :p, now())"), {"s": sym, "c": cls, "cs": cs, "p": pip})
        for grp, book, a_pct in GROUPS:
            if book:
                await s.execute(text("INSERT INTO risk_group_books (server_id, grp, book, a_book_pct) "
                                     "VALUES (1, :g, :b, :p)"), {"g": grp, "b": book, "p": a_pct})
        await s.execute(text("INSERT INTO reporting_spread_markups (server_id, grp, markup_pips) "
                             "VALUES (1, 'real\\std', 0.6)"))
    async with factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO users (id, email, email_normalized, is_client) "
            "SELECT 1000 + g, 'bi' || g || '@example.com', 'bi' || g || '@example.com', true "
            "FROM generate_series(0, :n - 1) g"), {"n": clients})
        await s.execute(text(
            "INSERT INTO clients (user_id, status, desk, country, attribution) SELECT 1000 + g, 'approved', "
            "'desk-' || (g % :d), NULLIF((CAST(:c AS text[]))[1 + g % :nc], ''), jsonb_build_object("
            "'utm_campaign', 'campaign-' || (g % :camps), 'utm_source', 'source-' || (g % 4)) "
            "FROM generate_series(0, :n - 1) g"),
            {"n": clients, "d": DESKS, "c": list(COUNTRIES), "nc": len(COUNTRIES), "camps": CAMPAIGNS})
        await s.execute(text(
            "INSERT INTO trading_accounts (id, server_id, login, user_id, \"group\", leverage, currency, created_at) "
            "SELECT 1000 + g, 1, 100000 + g, 1000 + g, (CAST(:g AS text[]))[1 + g % 4], 100, 'USD', now() "
            "FROM generate_series(0, :n - 1) g"), {"n": clients, "g": [g[0] for g in GROUPS]})
        await _seed_ibs_and_first_deposits(s, clients)
        for seq in ("trading_servers_id_seq", "users_id_seq", "trading_accounts_id_seq"):
            await s.execute(text("SELECT setval(CAST(:q AS regclass), :v)"), {"q": seq, "v": 1000 + clients + IBS})
    clients_s = time.perf_counter() - started
    # Deals: open/close pairs over the last DAYS days (the close carries the profit), in chunks.
    t0 = time.perf_counter()
    for lo in range(0, deals, CHUNK):
        hi = min(deals, lo + CHUNK)
        async with factory() as s, s.begin():
            await s.execute(text(
                "INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, "
                "position_id, action, entry, symbol, price, volume, profit, commission, storage, fee, reason, "
                "contract_size, rate_profit, rate_margin, notional_usd, comment, batch_id) "
                "SELECT 1, g, t, (extract(epoch FROM t) * 1000)::bigint, 100000 + a, 1000 + a, g, g / 2, g % 2, "
                "g % 2, sy.symbol, sy.price, v, CASE WHEN g % 2 = 1 THEN ((g * 7919) % 20001 - 10000) / 100.0 "
                "ELSE 0 END, -(v * 3.5), CASE WHEN g % 2 = 1 THEN -((g % 300) / 100.0) ELSE 0 END, 0, 0, "
                "sy.cs, 1, 1, v * sy.cs * sy.price, '', gen_random_uuid() "
                "FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) g "
                "CROSS JOIN LATERAL (SELECT (g / 2 * 7) % :clients AS a, "
                "  now() - make_interval(secs => ((g / 2) * 104729 % (:days * 86400))::double precision) AS t, "
                "  ((g / 2) % 200 + 1) / 100.0 AS v) x "
                "JOIN (SELECT * FROM unnest(CAST(:syms AS text[]), CAST(:prices AS numeric[]), "
                "      CAST(:css AS numeric[])) WITH ORDINALITY AS u(symbol, price, cs, i)) sy "
                "ON sy.i = 1 + (g / 2) % :nsym"),
                {"lo": lo, "hi": hi, "clients": clients, "days": DAYS, "syms": [s_[0] for s_ in SYMBOLS],
                 "prices": [s_[1] for s_ in SYMBOLS], "css": [s_[2] for s_ in SYMBOLS], "nsym": len(SYMBOLS)})
        # the risk trade log, as the risk batch keeps it (the funnel's first trade)
        async with factory() as s, s.begin():
            await s.execute(text(
                "INSERT INTO risk_trades (server_id, position_id, account_id, login, symbol, side, lots, open_deal, "
                "open_ms) SELECT server_id, position_id, account_id, login, symbol, 'BUY', volume, deal_id, time_ms "
                "FROM trading_deals WHERE deal_id >= :lo AND deal_id < :hi AND entry = 0 ON CONFLICT DO NOTHING"),
                {"lo": lo, "hi": hi})
    async with factory() as s:
        await s.execute(text("ANALYZE trading_deals"))
        await s.execute(text("ANALYZE risk_trades"))
    deals_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    today = datetime.now(UTC).date()
    async with factory() as s, s.begin():
        built = await rollups.rebuild(s, system_actor("bench.bi"), today - timedelta(days=DAYS + 1),
                                      today + timedelta(days=1))
    async with factory() as s:
        for table in ("reporting_deal_daily", "reporting_client_daily", "reporting_first_deposits", "clients",
                      "ib_client_attributions", "ib_commission_lines"):
            await s.execute(text(f"ANALYZE {table}"))
    return {"clients_s": round(clients_s, 1), "deals_s": round(deals_s, 1),
            "rollup_rebuild_s": round(time.perf_counter() - t1, 1), "rollup_rows": built.deal_rows}


_ANCHOR = {
    "symbol": "d.symbol",
    "group": "a.\"group\"",
    "book": "COALESCE(gb.book, 'UNMAPPED')",
    "desk": "COALESCE(c.desk, '')",
}


def _anchor_sql(key: str, bucket: str) -> str:
    joins = ""
    if key != "symbol":
        joins = " LEFT JOIN trading_accounts a ON a.id = d.account_id"
        if key == "book":
            joins += " LEFT JOIN risk_group_books gb ON gb.server_id = d.server_id AND gb.grp = a.\"group\""
        if key == "desk":
            joins += " LEFT JOIN clients c ON c.user_id = a.user_id"
    return (
        f"SELECT {_ANCHOR[key]} AS key, date_trunc('{bucket}', d.time AT TIME ZONE 'UTC')::date AS bucket, "
        "count(*), sum(d.volume), sum(-d.commission), sum(-d.fee), sum(-d.storage), sum(d.profit) "
        f"FROM trading_deals d{joins} WHERE d.time >= :t0 AND d.time < :t1 AND d.action IN (0, 1) GROUP BY 1, 2"
    )


DASHBOARDS = (
    ("revenue_by_symbol_daily_30d", reports.RevenueDimension.SYMBOL, reports.Bucket.DAY, 30, "symbol", "day"),
    ("revenue_by_group_weekly_60d", reports.RevenueDimension.GROUP, reports.Bucket.WEEK, 60, "group", "week"),
    ("revenue_by_book_monthly_60d", reports.RevenueDimension.BOOK, reports.Bucket.MONTH, 60, "book", "month"),
    ("revenue_by_desk_daily_7d", reports.RevenueDimension.DESK, reports.Bucket.DAY, 7, "desk", "day"),
)


async def _measure(factory: Any, samples: int, anchor_samples: int) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    until = today + timedelta(days=1)
    out: dict[str, Any] = {}
    for name, dim, bucket, days, key, trunc in DASHBOARDS:
        since = until - timedelta(days=days)
        times: list[float] = []
        for _ in range(3):  # warm up: the first session of a kind prepares its statements
            async with factory() as s:
                await reports.revenue(s, reports.Scope(None), since, until, dim, bucket)
        for _ in range(samples):
            started = time.perf_counter()
            async with factory() as s:
                report = await reports.revenue(s, reports.Scope(None), since, until, dim, bucket)
            times.append((time.perf_counter() - started) * 1000)
        anchor: list[float] = []
        t0 = datetime.combine(since, datetime.min.time(), UTC)
        t1 = datetime.combine(until, datetime.min.time(), UTC)
        for _ in range(anchor_samples):
            started = time.perf_counter()
            async with factory() as s:
                rows = (await s.execute(text(_anchor_sql(key, trunc)), {"t0": t0, "t1": t1})).all()
            anchor.append((time.perf_counter() - started) * 1000)
        # the two agree on what they both compute
        assert sum(int(r[2]) for r in rows) == report.total.deals, (name, report.total.deals)
        p95, a_p95 = pct(times, 0.95), pct(anchor, 0.95)
        out[name] = {"p50_ms": pct(times, 0.5), "p95_ms": p95, "deals": report.total.deals,
                     "anchor_group_by_p50_ms": pct(anchor, 0.5), "anchor_group_by_p95_ms": a_p95,
                     "speedup_p95": round(a_p95 / p95, 1) if p95 else None}
    # The funnel of every seeded client (one cohort: all registered today) by country; anchor: the same
    # registered and first-trade counts with the first trade by a GROUP BY over raw deals.
    t0 = datetime.combine(today, datetime.min.time(), UTC)
    times, anchor = [], []
    for _ in range(max(3, samples // 10)):
        started = time.perf_counter()
        async with factory() as s:
            found = await funnel.funnel(s, reports.Scope(None), today, until, funnel.FunnelDimension.COUNTRY)
        times.append((time.perf_counter() - started) * 1000)
    for _ in range(anchor_samples):
        started = time.perf_counter()
        async with factory() as s:
            rows = (await s.execute(text(
                "SELECT COALESCE(rtrim(c.country), ''), count(*), count(ft.at) FROM clients c LEFT JOIN ("
                "SELECT a.user_id, min(d.time) AS at FROM trading_deals d "
                "JOIN trading_accounts a ON a.id = d.account_id "
                "WHERE d.action IN (0, 1) GROUP BY a.user_id) ft ON ft.user_id = c.user_id "
                "WHERE c.created_at >= :t0 GROUP BY 1"), {"t0": t0})).all()
        anchor.append((time.perf_counter() - started) * 1000)
    assert sum(int(r[1]) for r in rows) == found.total.registered
    out["funnel_by_country_all_clients"] = {
        "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95), "registered": found.total.registered,
        "first_trades": found.total.first_trades, "anchor_group_by_p50_ms": pct(anchor, 0.5),
        "anchor_first_trades": sum(int(r[2]) for r in rows)}
    return out


_RAW_BY_CLIENT = (
    "SELECT {key} AS key, count(DISTINCT a.user_id) AS trading, count(*) AS deals, sum(d.volume) AS volume "
    "FROM trading_deals d JOIN trading_accounts a ON a.id = d.account_id JOIN clients c ON c.user_id = a.user_id "
    "{join} WHERE d.time >= :t0 AND d.time < :t1 AND d.action IN (0, 1) GROUP BY 1")
_RAW_COHORTS = (
    "SELECT date_trunc('month', f.day)::date AS month, ((extract(year FROM d.time AT TIME ZONE 'UTC') "
    "- extract(year FROM f.day)) * 12 + extract(month FROM d.time AT TIME ZONE 'UTC') - extract(month FROM f.day)"
    ")::int AS since, count(DISTINCT f.user_id) AS trading "
    "FROM reporting_first_deposits f JOIN trading_accounts a ON a.user_id = f.user_id "
    "JOIN trading_deals d ON d.account_id = a.id AND d.action IN (0, 1) "
    "AND d.time >= date_trunc('month', f.day::timestamp) AT TIME ZONE 'UTC' WHERE f.day >= :s AND f.day < :u "
    "GROUP BY 1, 2")
_RAW_IB = (
    "SELECT ia.ib_id, count(*) AS deals, sum(d.volume) AS volume, (SELECT sum(l.amount) FROM ib_commission_lines l "
    "WHERE l.ib_id = ia.ib_id AND l.deal_time >= :t0 AND l.deal_time < :t1) AS commissions "
    "FROM trading_deals d JOIN trading_accounts a ON a.id = d.account_id "
    "JOIN ib_client_attributions ia ON ia.client_id = a.user_id AND ia.valid_to IS NULL "
    "WHERE d.time >= :t0 AND d.time < :t1 AND d.action IN (0, 1) GROUP BY 1")


async def _client_reports(factory: Any, samples: int, anchor_samples: int) -> dict[str, Any]:
    """The client reports (domain/reporting/clients.py, over the per-client rollup) beside the same figures by a
    plain GROUP BY over the raw deals (the cheaper half: deal counts, volume, trading clients, commissions),
    samples in the same run; each pair checked to agree on what both compute."""
    today = datetime.now(UTC).date()
    until = today + timedelta(days=1)
    out: dict[str, Any] = {}

    async def timed(fn: Any, n: int) -> tuple[list[float], Any]:
        times, found = [], None
        for _ in range(n):
            started = time.perf_counter()
            async with factory() as s:
                found = await fn(s)
            times.append((time.perf_counter() - started) * 1000)
        return times, found

    def figures(times: list[float], anchor: list[float], **extra: Any) -> dict[str, Any]:
        p95, a_p95 = pct(times, 0.95), pct(anchor, 0.95)
        return {"p50_ms": pct(times, 0.5), "p95_ms": p95, "anchor_group_by_p50_ms": pct(anchor, 0.5),
                "anchor_group_by_p95_ms": a_p95, "speedup_p95": round(a_p95 / p95, 1) if p95 else None, **extra}

    for name, dim, key, join in (
            ("clients_by_country_30d", clients_report.ClientDimension.COUNTRY, "COALESCE(rtrim(c.country), '')", ""),
            ("clients_by_campaign_30d", clients_report.ClientDimension.CAMPAIGN,
             "COALESCE(c.attribution->>'utm_campaign', '')", ""),
            ("clients_by_ib_30d", clients_report.ClientDimension.IB, "COALESCE(ia.ib_id::text, '')",
             "LEFT JOIN ib_client_attributions ia ON ia.client_id = c.user_id AND ia.valid_to IS NULL")):
        since = until - timedelta(days=30)
        bound = {"t0": datetime.combine(since, datetime.min.time(), UTC),
                 "t1": datetime.combine(until, datetime.min.time(), UTC)}
        await timed(lambda s, d=dim, a=since: clients_report.breakdown(s, reports.Scope(None), a, until, d), 2)
        times, found = await timed(
            lambda s, d=dim, a=since: clients_report.breakdown(s, reports.Scope(None), a, until, d), samples)
        anchor, rows = await timed(lambda s, k=key, j=join, b=bound: s.execute(text(
            _RAW_BY_CLIENT.format(key=k, join=j)), b), anchor_samples)
        raw = rows.all()
        assert sum(int(r.deals) for r in raw) == found.total.deals, (name, found.total.deals)
        assert sum(int(r.trading) for r in raw) == found.total.trading_clients, name
        out[name] = figures(times, anchor, lines=len(found.lines), deals=found.total.deals,
                            trading_clients=found.total.trading_clients)

    since = until - timedelta(days=DAYS + 1)
    await timed(lambda s: clients_report.cohorts(s, reports.Scope(None), since, until), 2)
    times, cohorts = await timed(lambda s: clients_report.cohorts(s, reports.Scope(None), since, until), samples)
    anchor, rows = await timed(lambda s: s.execute(text(_RAW_COHORTS), {"s": since, "u": until}), anchor_samples)
    raw = {(r.month, int(r.since)): int(r.trading) for r in rows.all()}
    mine = {(c.month, m.months_since): m.trading_clients for c in cohorts for m in c.months if m.trading_clients}
    assert mine == raw, "cohort retention differs from the raw GROUP BY"
    out["cohorts_by_first_deposit_month"] = figures(
        times, anchor, cohorts=len(cohorts), clients=sum(c.clients for c in cohorts),
        lifetime_net_revenue_usd=str(sum((c.lifetime_net_revenue_usd for c in cohorts), reports.ZERO)))

    since = until - timedelta(days=30)
    bound = {"t0": datetime.combine(since, datetime.min.time(), UTC),
             "t1": datetime.combine(until, datetime.min.time(), UTC)}
    await timed(lambda s: clients_report.ib_return(s, reports.Scope(None), since, until), 2)
    times, ibs = await timed(lambda s: clients_report.ib_return(s, reports.Scope(None), since, until), samples)
    anchor, rows = await timed(lambda s: s.execute(text(_RAW_IB), bound), anchor_samples)
    raw_ib = rows.all()
    assert sum(int(r.deals) for r in raw_ib) == ibs.total.deals, "IB deals differ from the raw GROUP BY"
    out["ib_return_30d"] = figures(times, anchor, ibs=len(ibs.lines), deals=ibs.total.deals,
                                   commissions_usd=str(ibs.total.commissions_usd))
    return out


async def _scheduled_run(factory: Any, settings: Settings, samples: int) -> dict[str, Any]:
    """A scheduled report's production (domain/reporting/schedules.py: claim the due schedule, the report, the
    CSV, its hash, the run row, one e-mail per recipient queued, the audit, in one transaction) beside the plain
    report read of the same figures (`reports.revenue`, what `revenueReport` runs), samples alternating in
    the same run: revenue by symbol per day over the 30 days before today, every desk, three recipients."""
    async with factory() as s, s.begin():
        role = int(await s.scalar(text(
            "INSERT INTO roles (name, permissions) VALUES ('bench-reports', ARRAY['reports.read', 'kyc.review']) "
            "ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions RETURNING id")))
        staff = [int(await s.scalar(text(
            "INSERT INTO users (email, email_normalized, is_staff, totp_enabled_at) VALUES (:e, :e, true, now()) "
            "RETURNING id"), {"e": f"bench-report-{i}-{time.time_ns()}@broker.example"})) for i in range(3)]
        await s.execute(text("INSERT INTO user_roles (user_id, role_id) SELECT unnest(CAST(:u AS bigint[])), :r"),
                        {"u": staff, "r": role})
        owner = Actor(ActorKind.STAFF, user_id=staff[0], permissions=frozenset({"reports.read", "kyc.review"}))
        made = await schedules.create(s, owner, schedules.ScheduleInput(
            "revenue", "symbol", "day", "last_30_days", 10, "daily", "csv", staff))
    now = datetime.now(UTC)
    slot = datetime.combine(now.date(), datetime.min.time(), UTC)
    since, until = schedules.period_of("last_30_days", slot)
    produce: list[float] = []
    read: list[float] = []
    rows = deals = 0
    for i in range(samples + 3):  # the first three warm up
        async with factory() as s, s.begin():
            await s.execute(text("DELETE FROM reporting_runs WHERE schedule_id = :i"), {"i": made.id})
            await s.execute(text("UPDATE reporting_schedules SET next_run_at = :t WHERE id = :i"),
                            {"t": slot, "i": made.id})
        started = time.perf_counter()
        async with factory() as s, s.begin():
            done = await schedules.run_next_due(s, settings, now=now)
        took = (time.perf_counter() - started) * 1000
        assert done is not None and done.status == "done", done
        started = time.perf_counter()
        async with factory() as s:
            report = await reports.revenue(s, reports.Scope(None), since, until, reports.RevenueDimension.SYMBOL,
                                           reports.Bucket.DAY, 10)
        if i >= 3:
            produce.append(took)
            read.append((time.perf_counter() - started) * 1000)
        rows, deals = done.rows, report.total.deals
    async with factory() as s, s.begin():
        await s.execute(text("UPDATE reporting_schedules SET deleted_at = now(), paused = true WHERE id = :i"),
                        {"i": made.id})
    p95, a_p95 = pct(produce, 0.95), pct(read, 0.95)
    return {"p50_ms": pct(produce, 0.5), "p95_ms": p95, "rows": rows, "deals": deals, "recipients": len(staff),
            "anchor_report_read_p50_ms": pct(read, 0.5), "anchor_report_read_p95_ms": a_p95,
            "overhead_p95": round(p95 / a_p95, 2) if a_p95 else None}


async def _replica_reads(database_url: str, settings: Settings, engine: Any, factory: Any,
                         samples: int) -> dict[str, Any]:
    """The 30-day revenue-by-symbol dashboard on the read replica beside the primary, alternating samples."""
    configured = os.environ.get("FOREXCRM_READ_REPLICA_URL")
    if not configured:
        return {"skipped": "FOREXCRM_READ_REPLICA_URL is not set (a streaming standby of the bench's server): "
                           "no replica-routed figure in this run"}
    bench_db = urlsplit(database_url).path
    parts = urlsplit(configured)
    url = urlunsplit((parts.scheme, parts.netloc, bench_db, parts.query, parts.fragment))
    replica = ReadReplica(url, settings.model_copy(update={"read_replica_check_interval_s": 0.5}), engine)
    try:
        deadline = time.monotonic() + 300
        while not (source := await replica.status()).replica:  # until it has replayed the seeding
            if time.monotonic() > deadline:
                return {"skipped": f"the replica was not usable within 300 s: {source}"}
            await asyncio.sleep(0.5)
        name, dim, bucket, days, _key, _trunc = DASHBOARDS[0]
        until = datetime.now(UTC).date() + timedelta(days=1)
        since = until - timedelta(days=days)

        def revenue(s: Any) -> Any:
            return reports.revenue(s, reports.Scope(None), since, until, dim, bucket)

        for _ in range(3):  # warm up both pools' statements
            await replica.read(revenue)
            async with factory() as s:
                await revenue(s)
        on_replica: list[float] = []
        on_primary: list[float] = []
        lags: list[float] = []
        fallbacks = 0
        found = None
        for _ in range(samples):
            started = time.perf_counter()
            source = await replica.status()
            if source.replica:
                found = await replica.read(revenue)
                on_replica.append((time.perf_counter() - started) * 1000)
                lags.append(source.lag_seconds or 0.0)
            else:
                fallbacks += 1
            started = time.perf_counter()
            async with factory() as s:
                expected = await revenue(s)
            on_primary.append((time.perf_counter() - started) * 1000)
        # the replica's answer is the primary's (nothing written meanwhile)
        assert found is None or found.total.deals == expected.total.deals, (found, expected.total.deals)
        return {"dashboard": name, "replica_p50_ms": pct(on_replica, 0.5), "replica_p95_ms": pct(on_replica, 0.95),
                "anchor_primary_p50_ms": pct(on_primary, 0.5), "anchor_primary_p95_ms": pct(on_primary, 0.95),
                "samples": len(on_replica), "fallbacks": fallbacks, "lag_max_s": max(lags, default=None),
                "checks": replica.checks}
    finally:
        await replica.close()


async def run(*, quick: bool) -> dict[str, Any]:
    deals = 200_000 if quick else int(os.environ.get("BENCH_BI_DEALS", "3000000"))
    clients = 20_000 if quick else int(os.environ.get("BENCH_BI_CLIENTS", "300000"))
    async with bench_services("bi_reports") as (database_url, _redis_url):
        settings = Settings(database_url=database_url)
        engine = create_engine(database_url, settings, pool_size=2)
        factory = create_session_factory(engine)
        try:
            seeded = await _seed(factory, deals, clients)
            dashboards = await _measure(factory, 40 if quick else 100, 3 if quick else 5)
            client_reports = await _client_reports(factory, 20 if quick else 50, 3 if quick else 5)
            replica = await _replica_reads(database_url, settings, engine, factory, 40 if quick else 100)
            scheduled = await _scheduled_run(factory, settings, 20 if quick else 50)
        finally:
            await engine.dispose()
        # The rollups' cost beside deal ingestion (as bench deal_ingestion): ingestion alone, then the
        # worker's rollup apply over the same batches.
        n = 20_000 if quick else 100_000
        ingest_s, inserted, _events = await _ingest(database_url, generate_deals(n), server="bi-ingest")
        rollup_s, client_s, batches, _deltas = await _rollups(database_url)
    revenue = [d for d in dashboards.values() if "speedup_p95" in d]
    worst = max(d["p95_ms"] for d in revenue)
    least = min(d["speedup_p95"] or 0 for d in revenue)
    return {
        "deals": deals, "clients": clients, "seed": seeded, "dashboards": dashboards,
        "worst_p95_ms": worst, "least_speedup": least, "client_reports": client_reports,
        "client_reports_worst_p95_ms": max(d["p95_ms"] for d in client_reports.values()),
        "client_reports_least_speedup": min(d["speedup_p95"] or 0 for d in client_reports.values()),
        "replica_reads": replica,
        "scheduled_report_run": scheduled,
        "ingestion": {"deals": inserted, "ingest_s": round(ingest_s, 3), "rollup_apply_s": round(rollup_s, 3),
                      "batches": batches, "rollup_overhead": round(rollup_s / ingest_s, 3),
                      "client_sweep_s": round(client_s, 3), "client_sweep_overhead": round(client_s / ingest_s, 3)},
        "targets": {"p95_ms": 200, "speedup": 20, "rollup_overhead": 0.10},
    }  # fmt: skip
