"""Set-based deal ingestion: COPY into a staging table, then one statement does the rest.

Per batch, in the caller's transaction:

1. The deals are COPYed (asyncpg binary COPY) into a session-local temp staging table.
2. One statement with data-modifying CTEs:
   - claims new (server, deal) keys in `trading_deal_keys` (ON CONFLICT DO NOTHING): only deals
     never seen before go further, so a re-ingested batch inserts nothing;
   - inserts those deals into the time-partitioned `trading_deals`, resolving the account and
     computing the USD notional;
   - copies balance-type deals into `trading_balance_operations` (they feed reconciliation);
   - applies IN/OUT deals to `trading_positions` as net volume deltas (commutative, so pages may
     arrive out of order);
   - queues ingestion errors: a repeat with a different fingerprint (`conflicting_duplicate`, the
     stored row is never overwritten), an unknown login or symbol (the deal is stored anyway and
     flagged, so nothing is lost and it can be re-attributed once the account/instrument exists).
3. Positions whose net volume reached zero are deleted.
4. One outbox event `trading.deals_ingested` for the batch when it inserted anything.

USD notional: lots x contract size x price gives the notional in the symbol's profit currency;
the deal's own `rate_profit` (profit currency -> deposit currency at the deal's time, supplied by
the platform) converts it to the deposit currency; a non-USD deposit currency is converted with the
latest `trading_usd_rates` row at or before the deal time (NULL if no rate is known yet).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events.outbox import emit
from domain.platforms.port import Deal

TOPIC_DEALS_INGESTED = "trading.deals_ingested"
TOPIC_DEALS_MONITORED = "trading.deals_for_monitoring"
BALANCE_ACTIONS = (2, 3, 4, 5, 6, 19, 20)

_STAGE_COLUMNS = (
    "deal_id", "time", "time_ms", "login", "order_id", "position_id", "action", "entry", "symbol", "price",
    "volume", "profit", "commission", "storage", "fee", "reason", "contract_size", "rate_profit",
    "rate_margin", "comment", "external_tag", "fingerprint",
)  # fmt: skip

_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS trading_deal_stage (
    deal_id bigint, time timestamptz, time_ms bigint, login bigint, order_id bigint, position_id bigint,
    action smallint, entry smallint, symbol text, price numeric, volume numeric, profit numeric,
    commission numeric, storage numeric, fee numeric, reason smallint, contract_size numeric,
    rate_profit numeric, rate_margin numeric, comment text, external_tag text, fingerprint bytea
) ON COMMIT DELETE ROWS
"""

_INGEST = """
WITH src AS (
    SELECT DISTINCT ON (deal_id) * FROM trading_deal_stage ORDER BY deal_id, time
),
new_keys AS (
    INSERT INTO trading_deal_keys (server_id, deal_id, time, fingerprint)
    SELECT $1, deal_id, time, fingerprint FROM src
    ON CONFLICT DO NOTHING
    RETURNING deal_id
),
ins AS (
    INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, account_id, order_id, position_id,
        action, entry, symbol, price, volume, profit, commission, storage, fee, reason, contract_size,
        rate_profit, rate_margin, notional_usd, comment, external_tag, batch_id)
    SELECT $1, s.deal_id, s.time, s.time_ms, s.login, a.id, s.order_id, s.position_id, s.action, s.entry,
        s.symbol, s.price, s.volume, s.profit, s.commission, s.storage, s.fee, s.reason, s.contract_size,
        s.rate_profit, s.rate_margin,
        CASE WHEN s.volume = 0 OR s.symbol = '' THEN NULL
             WHEN a.currency IS NULL OR a.currency = 'USD'
                 THEN round(s.volume * s.contract_size * s.price * s.rate_profit, 8)
             ELSE round(s.volume * s.contract_size * s.price * s.rate_profit * r.rate, 8) END,
        s.comment, s.external_tag, $2
    FROM src s
    JOIN new_keys k USING (deal_id)
    LEFT JOIN trading_accounts a ON a.server_id = $1 AND a.login = s.login
    LEFT JOIN LATERAL (
        SELECT u.rate FROM trading_usd_rates u
        WHERE a.currency <> 'USD' AND u.currency = a.currency AND u.valid_from <= s.time
        ORDER BY u.valid_from DESC LIMIT 1
    ) r ON true
    RETURNING deal_id, time, time_ms, login, account_id, position_id, action, entry, symbol, price, volume,
        profit, comment, external_tag
),
bal AS (
    INSERT INTO trading_balance_operations (server_id, deal_id, time, login, account_id, action, kind, amount,
        comment, external_tag)
    SELECT $1, deal_id, time, login, account_id, action,
        CASE action
            WHEN 2 THEN CASE WHEN profit >= 0 THEN 'DEPOSIT' ELSE 'WITHDRAWAL' END
            WHEN 3 THEN CASE WHEN profit >= 0 THEN 'CREDIT_IN' ELSE 'CREDIT_OUT' END
            WHEN 4 THEN 'CHARGE' WHEN 5 THEN 'CORRECTION' WHEN 6 THEN 'BONUS'
            WHEN 19 THEN 'SO_COMPENSATION' ELSE 'SO_COMPENSATION_CREDIT' END,
        profit, comment, external_tag
    FROM ins WHERE action = ANY($3::smallint[])
    ON CONFLICT DO NOTHING
    RETURNING 1
),
pos AS (
    INSERT INTO trading_positions AS p (server_id, position_id, login, account_id, symbol, side, volume,
        in_volume, in_value, opened_at, last_deal_ms)
    SELECT $1, position_id, min(login), min(account_id), min(symbol),
        COALESCE(min(side) FILTER (WHERE entry = 0), min(side)),
        sum(CASE WHEN entry = 0 THEN volume ELSE -volume END),
        COALESCE(sum(volume) FILTER (WHERE entry = 0), 0),
        COALESCE(sum(volume * price) FILTER (WHERE entry = 0), 0),
        min(time) FILTER (WHERE entry = 0), max(time_ms)
    FROM (
        SELECT *, CASE WHEN (entry = 0) = (action = 0) THEN 'BUY' ELSE 'SELL' END AS side
        FROM ins WHERE action IN (0, 1) AND entry IN (0, 1, 3) AND position_id <> 0
    ) d
    GROUP BY position_id
    ON CONFLICT (server_id, position_id) DO UPDATE SET
        volume = p.volume + excluded.volume,
        in_volume = p.in_volume + excluded.in_volume,
        in_value = p.in_value + excluded.in_value,
        side = CASE WHEN excluded.in_volume > 0 THEN excluded.side ELSE p.side END,
        opened_at = LEAST(p.opened_at, excluded.opened_at),
        account_id = COALESCE(p.account_id, excluded.account_id),
        last_deal_ms = GREATEST(p.last_deal_ms, excluded.last_deal_ms)
    RETURNING position_id, volume
),
conflicting AS (
    SELECT s.deal_id, 'stored fingerprint differs' AS why, to_jsonb(s) - 'fingerprint' AS raw
    FROM src s JOIN trading_deal_keys k ON k.server_id = $1 AND k.deal_id = s.deal_id
    WHERE k.fingerprint <> s.fingerprint
    UNION ALL
    SELECT deal_id, 'repeated within one batch with different content', NULL
    FROM trading_deal_stage GROUP BY deal_id HAVING count(DISTINCT fingerprint) > 1
),
errs AS (
    INSERT INTO trading_ingestion_errors (server_id, deal_id, kind, detail, raw)
    SELECT $1, deal_id, kind, detail, raw FROM (
        (SELECT DISTINCT ON (deal_id) deal_id, 'conflicting_duplicate' AS kind,
            'a deal with this id was already stored with different content: ' || why AS detail, raw
        FROM conflicting ORDER BY deal_id, raw IS NULL)
        UNION ALL
        SELECT deal_id, 'unknown_login', 'login ' || login || ' is not a known trading account', to_jsonb(i)
        FROM ins i WHERE account_id IS NULL
        UNION ALL
        SELECT deal_id, 'unknown_symbol', 'symbol ' || symbol || ' is not a known instrument', to_jsonb(i)
        FROM ins i WHERE symbol <> '' AND NOT EXISTS (
            SELECT 1 FROM trading_instruments t WHERE t.server_id = $1 AND t.symbol = i.symbol)
    ) e
    ON CONFLICT DO NOTHING
    RETURNING kind
)
SELECT
    (SELECT count(*) FROM src) AS distinct_deals,
    (SELECT count(*) FROM ins) AS inserted,
    (SELECT min(deal_id) FROM ins) AS first_deal_id,
    (SELECT max(deal_id) FROM ins) AS last_deal_id,
    (SELECT min(time) FROM ins) AS from_time,
    (SELECT max(time) FROM ins) AS to_time,
    (SELECT count(*) FROM bal) AS balance_operations,
    (SELECT count(*) FROM pos) AS positions_touched,
    (SELECT array_agg(position_id) FROM pos WHERE volume = 0) AS closed_positions,
    (SELECT count(*) FROM conflicting) AS conflicts,
    (SELECT count(*) FROM ins WHERE account_id IS NULL) AS unknown_logins,
    (SELECT count(*) FROM errs WHERE kind = 'unknown_symbol') AS unknown_symbols,
    -- Whether transaction monitoring has a live trade-batch scenario (domain/compliance/aml): without one
    -- no monitoring event is written. Read in this statement (no round trip of its own) and in this
    -- transaction, so a scenario whose activation committed before it sees the batch; the live
    -- scenarios are a handful of rows.
    EXISTS (SELECT 1 FROM aml_scenarios s JOIN aml_scenario_versions v ON v.id = s.live_version_id
            WHERE 'trade_batch' = ANY(v.triggers)) AS monitored
"""


@dataclass(frozen=True)
class BatchResult:
    batch_id: uuid.UUID
    received: int
    inserted: int
    duplicates: int
    conflicts: int
    unknown_logins: int
    unknown_symbols: int
    balance_operations: int
    positions_touched: int
    first_deal_id: int | None
    last_deal_id: int | None
    from_time: datetime | None
    to_time: datetime | None
    event_id: int | None

    def event_payload(self, server_id: int) -> dict[str, Any]:
        return {
            "batch_id": str(self.batch_id), "server_id": server_id,
            "first_deal_id": self.first_deal_id, "last_deal_id": self.last_deal_id,
            "from_time": self.from_time.isoformat() if self.from_time else None,
            "to_time": self.to_time.isoformat() if self.to_time else None,
            "inserted": self.inserted, "duplicates": self.duplicates, "conflicts": self.conflicts,
            "unknown_logins": self.unknown_logins, "unknown_symbols": self.unknown_symbols,
            "balance_operations": self.balance_operations,
        }  # fmt: skip


@dataclass(frozen=True)
class DealBatch:
    """A batch announced by `TOPIC_DEALS_INGESTED`, as its consumers (IB commissions, reporting rollups) read it."""
    batch_id: uuid.UUID
    server_id: int
    first_deal_id: int
    last_deal_id: int
    from_time: datetime
    to_time: datetime
    event_id: int | None = None
    inserted: int = 0

    @classmethod
    def from_event(cls, payload: dict[str, Any], event_id: int | None = None) -> DealBatch | None:
        """The batch announced by a `trading.deals_ingested` payload (None when it inserted nothing)."""
        if not payload.get("inserted") or payload.get("first_deal_id") is None:
            return None
        return cls(uuid.UUID(str(payload["batch_id"])), int(payload["server_id"]), int(payload["first_deal_id"]),
                   int(payload["last_deal_id"]), datetime.fromisoformat(str(payload["from_time"])),
                   datetime.fromisoformat(str(payload["to_time"])), event_id, int(payload["inserted"]))


def _n(value: Decimal) -> str:
    # Same amount, same text: 1.10 and 1.1 must not look like a conflict.
    return str(value.normalize()) if value else "0"


def fingerprint(d: Deal) -> bytes:
    """A digest of what a deal says, to tell an identical repeat from a conflicting one."""
    parts = (
        d.time_msc, d.login, d.order, d.position_id, d.action, d.entry, d.symbol, _n(d.price), _n(d.volume),
        _n(d.profit), _n(d.commission), _n(d.storage), _n(d.fee), d.reason, d.comment,
    )  # fmt: skip
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()


def stage_record(d: Deal) -> tuple[Any, ...]:
    return (
        d.deal, d.time, d.time_msc, d.login, d.order, d.position_id, d.action, d.entry, d.symbol[:32],
        d.price, d.volume, d.profit, d.commission, d.storage, d.fee, d.reason, d.contract_size,
        d.rate_profit, d.rate_margin, d.comment[:128], (d.external_tag or None) and d.external_tag[:64],
        fingerprint(d),
    )  # fmt: skip


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's (already begun) transaction."""
    raw = await session.connection()
    dbapi = await raw.get_raw_connection()
    return dbapi.driver_connection


async def ingest_batch(session: AsyncSession, server_id: int, deals: Sequence[Deal]) -> BatchResult:
    """Store a batch of deals idempotently (see the module docstring). Never commits."""
    batch_id = uuid.uuid4()
    if not deals:
        return BatchResult(batch_id, 0, 0, 0, 0, 0, 0, 0, 0, None, None, None, None, None)
    # Through the session first: this begins the transaction the raw statements then join.
    await session.execute(text(_CREATE_STAGE))
    conn = await driver_connection(session)
    await conn.execute("DELETE FROM trading_deal_stage")
    await conn.copy_records_to_table(
        "trading_deal_stage", records=[stage_record(d) for d in deals], columns=_STAGE_COLUMNS
    )
    row = await conn.fetchrow(_INGEST, server_id, batch_id, list(BALANCE_ACTIONS))
    closed = row["closed_positions"]
    if closed:
        await conn.execute(
            "DELETE FROM trading_positions WHERE server_id = $1 AND position_id = ANY($2::bigint[]) "
            "AND volume = 0",
            server_id, closed,
        )  # fmt: skip
    inserted = int(row["inserted"])
    result = BatchResult(
        batch_id=batch_id,
        received=len(deals),
        inserted=inserted,
        duplicates=int(row["distinct_deals"]) - inserted,
        conflicts=int(row["conflicts"]),
        unknown_logins=int(row["unknown_logins"]),
        unknown_symbols=int(row["unknown_symbols"]),
        balance_operations=int(row["balance_operations"]),
        positions_touched=int(row["positions_touched"]),
        first_deal_id=row["first_deal_id"],
        last_deal_id=row["last_deal_id"],
        from_time=row["from_time"],
        to_time=row["to_time"],
        event_id=None,
    )
    if inserted == 0:
        return result
    # Consumers: the IB commission engine (its job), risk and reporting (the topic).
    event_id = await emit(session, TOPIC_DEALS_INGESTED, result.event_payload(server_id), job="ib_process_deal_batch")
    # Transaction monitoring reads the batch per client in the worker, not in this transaction (only
    # while a trade-batch scenario is live: the job would find none and do nothing).
    if row["monitored"]:
        await emit(session, TOPIC_DEALS_MONITORED, {"server_id": server_id, "batch_id": str(result.batch_id)},
                   job="aml_evaluate_deal_batch")
    return BatchResult(**{**result.__dict__, "event_id": event_id})
