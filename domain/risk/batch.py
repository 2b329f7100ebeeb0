"""Per ingested batch: prices, the trade log, client metrics, detectors and limits, once per batch.

`risk_batches` is claimed first in the same transaction, so a redelivered event, the sweeper racing
the relay, or a retry after a crash all apply the batch exactly once. Exposure itself needs nothing
here: triggers keep it current as ingestion changes positions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk import detectors, exposure, hedging, limits
from domain.shared.actor import Actor
from domain.trading.ingestion import DealBatch

# The batch's deals, found through the key range the event carries (pruned by time partition).
_DEALS = """
SELECT * FROM trading_deals
WHERE server_id = :s AND batch_id = :b AND deal_id BETWEEN :d0 AND :d1 AND time BETWEEN :t0 AND :t1
"""

_PRICES = f"""
INSERT INTO risk_prices AS p (server_id, symbol, price, price_time)
SELECT DISTINCT ON (symbol) server_id, symbol, price, time FROM ({_DEALS}) d
WHERE symbol <> '' AND price > 0 AND action IN (0, 1)
ORDER BY symbol, time DESC, deal_id DESC
ON CONFLICT (server_id, symbol) DO UPDATE SET price = excluded.price, price_time = excluded.price_time
WHERE excluded.price_time >= p.price_time
"""  # noqa: S608 - constant SQL fragments

# Both halves of a position may arrive in one batch or in different ones, in either order.
_TRADES = f"""
INSERT INTO risk_trades AS t (server_id, position_id, account_id, login, symbol, side, lots, open_deal, open_ms,
    open_price, close_deal, close_ms, close_price, profit)
SELECT :s, position_id, min(account_id), min(login), min(symbol),
    min(CASE WHEN action = 0 THEN 'BUY' ELSE 'SELL' END) FILTER (WHERE entry = 0),
    sum(volume) FILTER (WHERE entry = 0), min(deal_id) FILTER (WHERE entry = 0),
    min(time_ms) FILTER (WHERE entry = 0), min(price) FILTER (WHERE entry = 0),
    max(deal_id) FILTER (WHERE entry <> 0), max(time_ms) FILTER (WHERE entry <> 0),
    max(price) FILTER (WHERE entry <> 0), sum(profit + commission + storage + fee) FILTER (WHERE entry <> 0)
FROM ({_DEALS}) d
WHERE action IN (0, 1) AND entry IN (0, 1, 3) AND position_id <> 0
GROUP BY position_id
ON CONFLICT (server_id, position_id) DO UPDATE SET
    account_id = COALESCE(t.account_id, excluded.account_id),
    side = COALESCE(t.side, excluded.side), lots = COALESCE(t.lots, excluded.lots),
    open_deal = COALESCE(t.open_deal, excluded.open_deal), open_ms = COALESCE(t.open_ms, excluded.open_ms),
    open_price = COALESCE(t.open_price, excluded.open_price),
    close_deal = COALESCE(excluded.close_deal, t.close_deal), close_ms = COALESCE(excluded.close_ms, t.close_ms),
    close_price = COALESCE(excluded.close_price, t.close_price),
    profit = CASE WHEN excluded.profit IS NULL THEN t.profit ELSE COALESCE(t.profit, 0) + excluded.profit END
"""  # noqa: S608 - constant SQL fragments

# Opens, volume, news-window opens and money in/out of this batch, per account.
_METRICS_FLOW = f"""
INSERT INTO risk_account_metrics AS m (account_id, server_id, login, user_id, opens, volume_lots, news_opens,
    deposits, withdrawals, first_ms, last_ms)
SELECT d.account_id, :s, min(d.login), min(a.user_id),
    count(*) FILTER (WHERE d.action IN (0, 1) AND d.entry = 0),
    COALESCE(sum(d.volume) FILTER (WHERE d.action IN (0, 1)), 0),
    count(*) FILTER (WHERE d.action IN (0, 1) AND d.entry = 0 AND EXISTS (
        SELECT 1 FROM risk_calendar c WHERE c.impact = 'high'
        AND c.at BETWEEN d.time - make_interval(secs => :after_s) AND d.time + make_interval(secs => :before_s))),
    COALESCE(sum(d.profit) FILTER (WHERE d.action = 2 AND d.profit > 0), 0),
    COALESCE(-sum(d.profit) FILTER (WHERE d.action = 2 AND d.profit < 0), 0),
    min(d.time_ms), max(d.time_ms)
FROM ({_DEALS}) d JOIN trading_accounts a ON a.id = d.account_id
GROUP BY d.account_id
ON CONFLICT (account_id) DO UPDATE SET
    opens = m.opens + excluded.opens, volume_lots = m.volume_lots + excluded.volume_lots,
    news_opens = m.news_opens + excluded.news_opens, deposits = m.deposits + excluded.deposits,
    withdrawals = m.withdrawals + excluded.withdrawals, user_id = COALESCE(excluded.user_id, m.user_id),
    first_ms = LEAST(m.first_ms, excluded.first_ms), last_ms = GREATEST(m.last_ms, excluded.last_ms),
    updated_at = now()
RETURNING account_id
"""  # noqa: S608 - constant SQL fragments

# Trades completed (both halves known) and not yet counted, folded into the metrics once.
_METRICS_CLOSED = f"""
WITH done AS (
    UPDATE risk_trades SET counted = true
    WHERE server_id = :s AND NOT counted AND account_id IS NOT NULL AND open_ms IS NOT NULL
      AND close_ms IS NOT NULL AND position_id IN (
        SELECT position_id FROM ({_DEALS}) d WHERE position_id <> 0 AND action IN (0, 1))
    RETURNING account_id, profit, close_ms - open_ms AS hold
)
INSERT INTO risk_account_metrics AS m (account_id, server_id, login, closed, wins, gross_profit, gross_loss,
    hold_ms_sum, hold_lt_5s, hold_lt_1m, hold_lt_10m, hold_lt_1h, hold_ge_1h)
SELECT account_id, :s, 0, count(*), count(*) FILTER (WHERE profit > 0),
    COALESCE(sum(profit) FILTER (WHERE profit > 0), 0), COALESCE(-sum(profit) FILTER (WHERE profit < 0), 0),
    sum(hold), count(*) FILTER (WHERE hold < 5000), count(*) FILTER (WHERE hold >= 5000 AND hold < 60000),
    count(*) FILTER (WHERE hold >= 60000 AND hold < 600000),
    count(*) FILTER (WHERE hold >= 600000 AND hold < 3600000), count(*) FILTER (WHERE hold >= 3600000)
FROM done GROUP BY account_id
ON CONFLICT (account_id) DO UPDATE SET
    closed = m.closed + excluded.closed, wins = m.wins + excluded.wins,
    gross_profit = m.gross_profit + excluded.gross_profit, gross_loss = m.gross_loss + excluded.gross_loss,
    hold_ms_sum = m.hold_ms_sum + excluded.hold_ms_sum, hold_lt_5s = m.hold_lt_5s + excluded.hold_lt_5s,
    hold_lt_1m = m.hold_lt_1m + excluded.hold_lt_1m, hold_lt_10m = m.hold_lt_10m + excluded.hold_lt_10m,
    hold_lt_1h = m.hold_lt_1h + excluded.hold_lt_1h, hold_ge_1h = m.hold_ge_1h + excluded.hold_ge_1h,
    updated_at = now()
RETURNING account_id
"""  # noqa: S608 - constant SQL fragments

# The news window used by the metric "share of trades around news" (the detector reads the same count).
NEWS_BEFORE_S = 15
NEWS_AFTER_S = 45
_LOCK_KEY = 0x7269736B  # advisory lock class of the risk batch step ("risk"), keyed by server


RiskBatch = DealBatch  # the batch announced by trading.deals_ingested, as the other consumers read it


def _params(batch: RiskBatch) -> dict[str, Any]:
    return {"s": batch.server_id, "b": batch.batch_id, "d0": batch.first_deal_id, "d1": batch.last_deal_id,
            "t0": batch.from_time, "t1": batch.to_time}  # fmt: skip


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: uuid.UUID
    fresh: bool
    accounts: int = 0
    flags: int = 0
    alerts: int = 0


async def update_metrics(session: AsyncSession, batch: RiskBatch, th: detectors.Thresholds | None = None) -> list[int]:
    """Prices, trade log, hedge pairs and metrics for one batch (no claim, no detectors); returns
    the touched accounts."""
    p = _params(batch)
    th = th or await detectors.load_thresholds(session)
    hedge = th.get("hedging")
    await session.execute(text(_PRICES), p)
    await session.execute(text(_TRADES), p)
    await hedging.match(session, _DEALS, p, hedge["window_ms"], hedge["size_tolerance"])
    touched = set(await session.scalars(
        text(_METRICS_FLOW), {**p, "before_s": NEWS_BEFORE_S, "after_s": NEWS_AFTER_S}))
    touched.update(await session.scalars(text(_METRICS_CLOSED), p))
    return sorted(touched)


async def process_batch(
    session: AsyncSession, actor: Actor, batch: RiskBatch, *, detect: bool = True
) -> BatchOutcome:
    # One batch of a server at a time: a hedge pair whose two trades arrive in two batches processed
    # concurrently would otherwise be seen by neither.
    await session.execute(text("SELECT pg_advisory_xact_lock(:k, :s)"), {"k": _LOCK_KEY, "s": batch.server_id})
    claimed = await session.scalar(text(
        "INSERT INTO risk_batches (batch_id, server_id, deals) VALUES (:b, :s, 0) ON CONFLICT DO NOTHING "
        "RETURNING batch_id"), {"b": batch.batch_id, "s": batch.server_id})  # fmt: skip
    if claimed is None:
        return BatchOutcome(batch.batch_id, fresh=False)
    th = await detectors.load_thresholds(session)
    accounts = await update_metrics(session, batch, th)
    flags = await detectors.run(session, actor, accounts, th) if detect else 0
    alerts = await limits.evaluate(session, actor)
    await exposure.publish_update(session, source=f"batch:{batch.batch_id}")
    await session.execute(text(
        "UPDATE risk_batches SET deals = :n, flags = :f WHERE batch_id = :b"
    ), {"n": batch.last_deal_id - batch.first_deal_id + 1, "f": flags, "b": batch.batch_id})  # fmt: skip
    return BatchOutcome(batch.batch_id, True, len(accounts), flags, len(alerts))
