"""Reporting rollups: per UTC day x dimension sums kept current as deals and postings arrive.

Deals: each ingested batch (its `trading.deals_ingested` outbox event) is added to
`reporting_deal_daily` by the worker (`apply_batch`, claimed in `reporting_batches` in the same
statement: once per batch, whatever the redeliveries). In the ingestion statement itself the rollups
cost about +38% of its throughput (bench deal_ingestion, measured both ways), over the +10% budget:
out of it they cost ingestion nothing, and the worker's apply is measured beside it. A batch's rows
are a handful of (day, server, symbol, group, book, desk) keys; keys carry the server, so batches of
different servers never touch the same row.

Money: `sweep_money` claims the deposit and withdrawal ledger entries not yet counted
(`reporting_applied_entries`, exactly once per entry even with sweeps racing) and adds their
client-wallet postings to `reporting_money_daily`, and keeps each client's first deposit in
`reporting_first_deposits`. The worker runs it every few seconds (jobs/reporting.py): the posting
statement, the hottest path there is, stays as it is.

Both sweeps look back a bounded way (the outbox keeps published events 7 days, entries are looked
for over SWEEP_WINDOW): anything the worker missed for longer than that is counted by a rebuild of
its days.

`rebuild` recomputes a period from the raw rows with the same expressions (`DEAL_FACTS`,
`MONEY_FACTS`), so a rebuilt period equals what the incremental path wrote. Attribution (account
group, book, desk, country) is what holds when a deal or posting is counted; a rebuild re-attributes
the period to what holds then.

Figures, all in USD at the rate in force at the deal or entry (`trading_usd_rates`; USD is 1; a row
without a rate is counted in `unpriced` and adds nothing):
- spread markup: volume x contract size x the group's markup (`reporting_spread_markups`, pips) x pip
  size x rate_profit, on opening deals;
- commission, fee and swap: what the client paid (the deal's negated commission, fee and storage);
- client P&L: the deal's profit; B-book P&L: the broker's share, -profit x (1 - A-book% / 100), the
  A-book% being the account's assignment in force at the deal (`risk_assignments`), else the group's
  mapping (`risk_group_books`), else 0 (book UNMAPPED);
- LP cost: the A-booked share of the volume x the LP's commission per lot for the server's symbol
  (`reporting_lp_commissions`, USD; none configured: 0), on every deal;
- net revenue: markup + commission + fee + swap + B-book P&L - LP cost.

Per client (`reporting_client_daily`, per user and day): the batch statement only appends its per client x
day sums (deals, volume, net revenue; an unpriced deal adds 0) to `reporting_client_deltas` (no index, no
conflict check); `sweep_client_deals`, run by the same worker sweep every few seconds, folds them in with one
upsert per client x day and deletes them in the same statement (exactly once). Upserted in the batch
statement, the per-client rows doubled the rollups' cost per batch (bench deal_ingestion). The money sweep
adds deposits and withdrawals in USD. Lifetime value, cohorts, IB return, geography and attribution read this
table (domain/reporting/clients.py), so they lag the deals by up to one sweep interval (jobs/reporting.py,
every 5 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.reporting.errors import ReportPeriodInvalid
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.trading.ingestion import TOPIC_DEALS_INGESTED, DealBatch

MONEY_KINDS = ("deposit", "withdrawal", "withdrawal_return")
SWEEP_WINDOW = timedelta(days=7)  # entries older than this and never counted need a rebuild
SWEEP_LIMIT = 5_000
MAX_REBUILD_DAYS = 3_700

# Per deal (`d`: trading_deals columns, buy/sell only) its rollup key and figures.
DEAL_FACTS = """
SELECT d.server_id, d.deal_id, d.time, (d.time AT TIME ZONE 'UTC')::date AS day, d.symbol, d.login,
    d.account_id, a.user_id, d.entry, d.volume,
    COALESCE(a."group", '') AS grp, COALESCE(ra.book, gb.book, 'UNMAPPED') AS book, COALESCE(c.desk, '') AS desk,
    u.usd IS NULL AS unpriced,
    d.notional_usd,
    CASE WHEN d.entry = 0 AND m.markup_pips IS NOT NULL
         THEN COALESCE(d.volume * d.contract_size * m.markup_pips * d.rate_profit * u.usd * (
             SELECT i.pip_size FROM trading_instruments i WHERE i.server_id = d.server_id AND i.symbol = d.symbol), 0)
         ELSE 0 END AS markup_usd,
    -d.commission * u.usd AS commission_usd, -d.fee * u.usd AS fee_usd, -d.storage * u.usd AS swap_usd,
    d.profit * u.usd AS client_pnl_usd,
    -d.profit * u.usd * (1 - COALESCE(ra.a_book_pct, gb.a_book_pct, 0) / 100) AS bbook_pnl_usd,
    COALESCE(d.volume * lp.per_lot_usd * COALESCE(ra.a_book_pct, gb.a_book_pct, 0) / 100, 0) AS lp_cost_usd
FROM {source} d
LEFT JOIN trading_accounts a ON a.id = d.account_id
LEFT JOIN clients c ON c.user_id = a.user_id
LEFT JOIN LATERAL (
    SELECT CASE WHEN a.currency IS NULL OR a.currency = 'USD' THEN 1::numeric ELSE (
        SELECT r.rate FROM trading_usd_rates r WHERE r.currency = a.currency AND r.valid_from <= d.time
        ORDER BY r.valid_from DESC LIMIT 1) END AS usd
) u ON true
LEFT JOIN LATERAL (
    SELECT x.book, x.a_book_pct FROM risk_assignments x WHERE x.account_id = d.account_id AND x.effective_at <= d.time
    ORDER BY x.effective_at DESC, x.id DESC LIMIT 1
) ra ON true
LEFT JOIN risk_group_books gb ON gb.server_id = d.server_id AND gb.grp = a."group"
LEFT JOIN reporting_spread_markups m ON m.server_id = d.server_id AND m.grp = a."group"
LEFT JOIN reporting_lp_commissions lp ON lp.server_id = d.server_id AND lp.symbol = d.symbol
WHERE d.action IN (0, 1)
"""

_DEAL_SUMS = """
SELECT day, server_id, symbol, grp, book, desk, count(*), sum(volume), COALESCE(sum(notional_usd), 0),
    COALESCE(sum(markup_usd), 0), COALESCE(sum(commission_usd), 0), COALESCE(sum(fee_usd), 0),
    COALESCE(sum(swap_usd), 0), COALESCE(sum(client_pnl_usd), 0), COALESCE(sum(bbook_pnl_usd), 0),
    count(*) FILTER (WHERE unpriced), sum(lp_cost_usd)
FROM {facts} f GROUP BY day, server_id, symbol, grp, book, desk
"""

_DEAL_COLUMNS = ("day, server_id, symbol, grp, book, desk, deals, volume_lots, notional_usd, markup_usd, "
                 "commission_usd, fee_usd, swap_usd, client_pnl_usd, bbook_pnl_usd, unpriced, lp_cost_usd")
_DEAL_ADD = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _DEAL_COLUMNS.split(", ")[6:])

# Per client and day (deals without an account are in no client's figures). Only plain inserts use it (the
# batch's deltas, a rebuild's emptied days): unordered; the sweep's upsert orders its rows.
_CLIENT_DEAL_SUMS = """
SELECT user_id, day, count(*), sum(volume),
    sum(COALESCE(markup_usd + commission_usd + fee_usd + swap_usd + bbook_pnl_usd, 0) - lp_cost_usd)
FROM {facts} f WHERE user_id IS NOT NULL GROUP BY user_id, day
"""
_CLIENT_DEAL_COLUMNS = "user_id, day, deals, volume_lots, net_revenue_usd"

# One ingested batch (the `trading.deals_ingested` event's key range, pruned by time partition),
# claimed in `reporting_batches` by the same statement: a batch adds to the rollups once. Its facts are
# computed once for both rollups; its per-client sums are only appended, for the sweep to fold in.
_DEAL_BATCH = f"""
WITH claimed AS (
    INSERT INTO reporting_batches (batch_id) VALUES ($2) ON CONFLICT DO NOTHING RETURNING batch_id
), facts AS MATERIALIZED ({DEAL_FACTS.format(source=(
    "(SELECT t.* FROM trading_deals t WHERE t.server_id = $1 AND t.batch_id = $2 AND t.deal_id BETWEEN $3 AND $4 "
    "AND t.time BETWEEN $5 AND $6 AND t.action IN (0, 1) AND EXISTS (SELECT 1 FROM claimed))"))}
), up AS (
    INSERT INTO reporting_deal_daily AS r ({_DEAL_COLUMNS})
    {_DEAL_SUMS.format(facts="facts")}
    ON CONFLICT (day, server_id, symbol, grp, book, desk) DO UPDATE SET {_DEAL_ADD}
    RETURNING 1
), per_client AS (
    INSERT INTO reporting_client_deltas ({_CLIENT_DEAL_COLUMNS}) {_CLIENT_DEAL_SUMS.format(facts="facts")}
)
SELECT (SELECT count(*) FROM claimed) AS fresh, (SELECT count(*) FROM up) AS rows
"""  # noqa: S608 - constant SQL fragments

# The appended per-client sums, deleted by the statement that folds them in (one upsert per client x day,
# in key order): a sweep racing this one waits and finds them gone, a failed one leaves them.
_CLIENT_SWEEP = f"""
WITH taken AS (
    DELETE FROM reporting_client_deltas RETURNING {_CLIENT_DEAL_COLUMNS}
), up AS (
    INSERT INTO reporting_client_daily AS r ({_CLIENT_DEAL_COLUMNS})
    SELECT user_id, day, sum(deals), sum(volume_lots), sum(net_revenue_usd) FROM taken
    GROUP BY user_id, day ORDER BY user_id, day
    ON CONFLICT (user_id, day) DO UPDATE SET deals = r.deals + excluded.deals,
        volume_lots = r.volume_lots + excluded.volume_lots,
        net_revenue_usd = r.net_revenue_usd + excluded.net_revenue_usd
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken) AS deltas, (SELECT count(*) FROM up) AS rows
"""  # noqa: S608 - constant SQL fragments


@dataclass(frozen=True)
class ClientSweepResult:
    deltas: int
    rows: int


async def sweep_client_deals(session: AsyncSession) -> ClientSweepResult:
    """Fold the per-client sums appended by the batches added so far into `reporting_client_daily`, once each."""
    row = await (await driver(session)).fetchrow(_CLIENT_SWEEP)
    return ClientSweepResult(int(row["deltas"]), int(row["rows"]))


async def apply_batch(session: AsyncSession, batch: DealBatch) -> int | None:
    """Add an ingested batch's deals to the daily rollups; None when the batch was added before."""
    row = await (await driver(session)).fetchrow(
        _DEAL_BATCH, batch.server_id, batch.batch_id, batch.first_deal_id, batch.last_deal_id, batch.from_time,
        batch.to_time)
    return int(row["rows"]) if row["fresh"] else None


async def pending_batches(session: AsyncSession, limit: int) -> list[DealBatch]:
    """Batches announced in the outbox and not added yet, oldest first."""
    rows = await (await driver(session)).fetch(
        "SELECT o.payload FROM outbox o WHERE o.topic = $1 AND NOT EXISTS (SELECT 1 FROM reporting_batches b "
        "WHERE b.batch_id = CAST(o.payload->>'batch_id' AS uuid)) ORDER BY o.id LIMIT $2", TOPIC_DEALS_INGESTED, limit)
    out = [DealBatch.from_event(orjson.loads(r["payload"]) if isinstance(r["payload"], str) else dict(r["payload"]))
           for r in rows]
    return [b for b in out if b is not None]


_DEAL_PERIOD = "(SELECT * FROM trading_deals WHERE time >= $1 AND time < $2 AND action IN (0, 1))"
_DEAL_REBUILD = (
    f"WITH facts AS MATERIALIZED ({DEAL_FACTS.format(source=_DEAL_PERIOD)}), "
    f"per_client AS (INSERT INTO reporting_client_daily ({_CLIENT_DEAL_COLUMNS}) "
    f"{_CLIENT_DEAL_SUMS.format(facts='facts')}) "
    f"INSERT INTO reporting_deal_daily ({_DEAL_COLUMNS}) {_DEAL_SUMS.format(facts='facts')}"
)

# Per client-wallet posting of a deposit or withdrawal entry (`e`: ledger_entries columns).
MONEY_FACTS = """
SELECT e.id AS entry_id, p.id AS posting_id, e.ref_kind, e.created_at, (e.created_at AT TIME ZONE 'UTC')::date AS day,
    CASE e.ref_kind WHEN 'deposit' THEN 'deposit' ELSE 'withdrawal' END AS direction,
    CASE e.ref_kind WHEN 'withdrawal_return' THEN -1 ELSE 1 END AS movements,
    CASE e.ref_kind WHEN 'deposit' THEN -p.amount ELSE p.amount END AS amount,
    la.owner_id AS user_id, p.currency,
    COALESCE(pm.method_code, 'other') AS method,
    COALESCE(pm.country, rtrim(c.country), '') AS country, COALESCE(c.desk, '') AS desk,
    u.usd IS NULL AS unpriced,
    (CASE e.ref_kind WHEN 'deposit' THEN -p.amount ELSE p.amount END) * u.usd AS amount_usd
FROM {source} e
JOIN ledger_postings p ON p.entry_id = e.id
JOIN ledger_accounts la ON la.id = p.account_id AND la.purpose = 'client_wallet'
LEFT JOIN payments pm ON pm.reference = e.ref_id
LEFT JOIN clients c ON c.user_id = la.owner_id
LEFT JOIN LATERAL (
    SELECT CASE WHEN p.currency = 'USD' THEN 1::numeric ELSE (
        SELECT r.rate FROM trading_usd_rates r WHERE r.currency = p.currency AND r.valid_from <= e.created_at
        ORDER BY r.valid_from DESC LIMIT 1) END AS usd
) u ON true
"""

_MONEY_COLUMNS = "day, direction, method, currency, country, desk, movements, amount, amount_usd, unpriced"
_MONEY_SUMS = """
SELECT day, direction, method, currency, country, desk, sum(movements), sum(amount), COALESCE(sum(amount_usd), 0),
    count(*) FILTER (WHERE unpriced)
FROM facts GROUP BY day, direction, method, currency, country, desk
"""
_MONEY_UPSERT = (
    f"INSERT INTO reporting_money_daily AS r ({_MONEY_COLUMNS}) {_MONEY_SUMS} "
    "ON CONFLICT (day, direction, method, currency, country, desk) DO UPDATE SET "
    "movements = r.movements + excluded.movements, amount = r.amount + excluded.amount, "
    "amount_usd = r.amount_usd + excluded.amount_usd, unpriced = r.unpriced + excluded.unpriced RETURNING 1"
)
_CLIENT_MONEY_UPSERT = """
INSERT INTO reporting_client_daily AS r (user_id, day, deposits, deposits_usd, withdrawals_usd)
SELECT user_id, day, COALESCE(sum(movements) FILTER (WHERE direction = 'deposit'), 0),
    COALESCE(sum(amount_usd) FILTER (WHERE direction = 'deposit'), 0),
    COALESCE(sum(amount_usd) FILTER (WHERE direction = 'withdrawal'), 0)
FROM facts WHERE user_id IS NOT NULL GROUP BY user_id, day ORDER BY user_id, day
ON CONFLICT (user_id, day) DO UPDATE SET deposits = r.deposits + excluded.deposits,
    deposits_usd = r.deposits_usd + excluded.deposits_usd,
    withdrawals_usd = r.withdrawals_usd + excluded.withdrawals_usd
"""
_FTD_COLUMNS = "user_id, entry_id, day, method, currency, country, desk, amount, amount_usd"
_FTD_UPSERT = (
    f"INSERT INTO reporting_first_deposits AS r ({_FTD_COLUMNS}) "  # noqa: S608 - constants
    f"SELECT DISTINCT ON (user_id) {_FTD_COLUMNS} FROM facts WHERE ref_kind = 'deposit' "
    "ORDER BY user_id, entry_id, posting_id "
    "ON CONFLICT (user_id) DO UPDATE SET entry_id = excluded.entry_id, day = excluded.day, method = excluded.method, "
    "currency = excluded.currency, country = excluded.country, desk = excluded.desk, amount = excluded.amount, "
    "amount_usd = excluded.amount_usd WHERE excluded.entry_id < r.entry_id RETURNING 1"
)

_SWEEP = f"""
WITH cand AS (
    SELECT e.id FROM ledger_entries e
    WHERE e.ref_kind IN ('deposit', 'withdrawal', 'withdrawal_return') AND e.created_at >= $1
      AND NOT EXISTS (SELECT 1 FROM reporting_applied_entries a WHERE a.entry_id = e.id)
    ORDER BY e.created_at, e.id LIMIT $2
), claimed AS (
    INSERT INTO reporting_applied_entries (entry_id) SELECT id FROM cand ON CONFLICT DO NOTHING RETURNING entry_id
), facts AS MATERIALIZED (
    {MONEY_FACTS.format(source="(SELECT x.* FROM ledger_entries x JOIN claimed k ON k.entry_id = x.id)")}
), money AS ({_MONEY_UPSERT}
), ftd AS ({_FTD_UPSERT}
), per_client AS ({_CLIENT_MONEY_UPSERT})
SELECT (SELECT count(*) FROM claimed) AS entries, (SELECT count(*) FROM money) AS rows,
       (SELECT count(*) FROM ftd) AS first_deposits
"""  # noqa: S608 - constant SQL fragments


@dataclass(frozen=True)
class SweepResult:
    entries: int
    rows: int
    first_deposits: int


async def sweep_money(session: AsyncSession, *, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> SweepResult:
    """Count the deposit and withdrawal entries of the last SWEEP_WINDOW not counted yet (at most `limit`)."""
    since = (now or datetime.now(UTC)) - SWEEP_WINDOW
    row = await (await driver(session)).fetchrow(_SWEEP, since, limit)
    return SweepResult(int(row["entries"]), int(row["rows"]), int(row["first_deposits"]))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def check_period(since: date, until: date, *, max_days: int = MAX_REBUILD_DAYS) -> None:
    if until <= since:
        raise ReportPeriodInvalid("until must be after since", field="until")
    if (until - since).days > max_days:
        raise ReportPeriodInvalid(f"a period spans at most {max_days} days", field="until")


@dataclass(frozen=True)
class RebuildResult:
    since: date
    until: date
    deal_rows: int
    money_rows: int
    first_deposits: int


_MONEY_PERIOD = "(SELECT * FROM ledger_entries WHERE ref_kind IN ('deposit', 'withdrawal', 'withdrawal_return') " \
                "AND created_at >= $1 AND created_at < $2)"


async def rebuild(session: AsyncSession, actor: Actor, since: date, until: date) -> RebuildResult:
    """Recompute the rollups of days [since, until) from the raw deals and postings. Never commits.

    The rollup tables are locked first (ingestion and the sweep wait for the rebuild's commit), so
    nothing counted concurrently is lost or counted twice."""
    check_period(since, until)
    t0, t1 = day_start(since), day_start(until)
    conn = await driver(session)
    await conn.execute("LOCK TABLE reporting_deal_daily, reporting_money_daily, reporting_first_deposits, "
                       "reporting_client_daily IN SHARE ROW EXCLUSIVE MODE")
    # Batches with deals in the period not added yet are added first (whole, deals outside the period
    # included); then the period is recomputed. A batch whose event is gone is claimed as it stands.
    pending = await conn.fetch(
        "SELECT o.payload FROM outbox o WHERE o.topic = $3 AND CAST(o.payload->>'batch_id' AS uuid) IN ("
        "SELECT DISTINCT d.batch_id FROM trading_deals d WHERE d.time >= $1 AND d.time < $2 AND NOT EXISTS ("
        "SELECT 1 FROM reporting_batches b WHERE b.batch_id = d.batch_id))", t0, t1, TOPIC_DEALS_INGESTED)
    for r in pending:
        payload = orjson.loads(r["payload"]) if isinstance(r["payload"], str) else dict(r["payload"])
        batch = DealBatch.from_event(payload)
        if batch is not None:
            await apply_batch(session, batch)
    await conn.execute("INSERT INTO reporting_batches (batch_id) SELECT DISTINCT batch_id FROM trading_deals "
                       "WHERE time >= $1 AND time < $2 ON CONFLICT DO NOTHING", t0, t1)
    # Queued batches are added per client before the period is recomputed (else the sweep would add their
    # deals in the period a second time); the lock above keeps a concurrent sweep waiting.
    await sweep_client_deals(session)
    await conn.execute("DELETE FROM reporting_deal_daily WHERE day >= $1 AND day < $2", since, until)
    await conn.execute("DELETE FROM reporting_client_daily WHERE day >= $1 AND day < $2", since, until)
    deal_rows = int((await conn.execute(_DEAL_REBUILD, t0, t1)).split()[-1])
    await conn.execute("DELETE FROM reporting_money_daily WHERE day >= $1 AND day < $2", since, until)
    await conn.execute(
        f"INSERT INTO reporting_applied_entries (entry_id) SELECT id FROM {_MONEY_PERIOD} e "  # noqa: S608
        "ON CONFLICT DO NOTHING", t0, t1)
    money_rows = int((await conn.execute(
        f"WITH facts AS MATERIALIZED ({MONEY_FACTS.format(source=_MONEY_PERIOD)}), "
        f"per_client AS ({_CLIENT_MONEY_UPSERT}) "
        f"INSERT INTO reporting_money_daily ({_MONEY_COLUMNS}) {_MONEY_SUMS}", t0, t1)).split()[-1])
    # First deposits of the clients who deposited in the period, over their whole history.
    users = f"""SELECT DISTINCT la.owner_id FROM {_MONEY_PERIOD} e JOIN ledger_postings p ON p.entry_id = e.id
        JOIN ledger_accounts la ON la.id = p.account_id AND la.purpose = 'client_wallet'
        WHERE e.ref_kind = 'deposit'"""  # noqa: S608 - constants
    await conn.execute(f"DELETE FROM reporting_first_deposits WHERE user_id IN ({users})", t0, t1)  # noqa: S608
    history = f"""(SELECT e.* FROM ledger_entries e WHERE e.ref_kind = 'deposit' AND EXISTS (
        SELECT 1 FROM ledger_postings p JOIN ledger_accounts la ON la.id = p.account_id
        WHERE p.entry_id = e.id AND la.owner_id IN ({users})))"""  # noqa: S608 - constants
    ftd = int((await conn.execute(
        f"WITH facts AS ({MONEY_FACTS.format(source=history)}) "  # noqa: S608 - constants
        f"INSERT INTO reporting_first_deposits ({_FTD_COLUMNS}) SELECT DISTINCT ON (user_id) {_FTD_COLUMNS} "
        "FROM facts WHERE ref_kind = 'deposit' ORDER BY user_id, entry_id, posting_id", t0, t1)).split()[-1])
    result = RebuildResult(since, until, deal_rows, money_rows, ftd)
    await audit.record(session, actor, action="reporting.rollups_rebuilt", entity_type="reporting_period",
                       entity_id=f"{since.isoformat()}/{until.isoformat()}",
                       after={"deal_rows": deal_rows, "money_rows": money_rows, "first_deposits": ftd},
                       category="reporting")
    return result
