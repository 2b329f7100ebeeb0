"""Order requests pulled from a trading server: slippage, request floods and pending-order straddles.

The platform's order history (filled, rejected and requoted requests) is pulled after a per-server
cursor, page by page; each page is stored, folded into the client metrics (request and slippage
counters, requests per second) and run through the request-flood detector in one transaction that
also advances the cursor, so a retry or a second worker applies a page once. Platforms without an
order history answer None and nothing is stored.

The cursor follows the order history by end time: a pending order (e.g. a straddle's stops) enters it
when it is filled or cancelled, after orders placed later; the platform adapter looks back far enough
to find it (for MT5, pending orders that lived up to PENDING_LOOKBACK_S).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.platforms.port import DealCursor, OrderRequest, TradingPlatform
from domain.risk import detectors
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory
from domain.trading import accounts

PAGE_SIZE = 1000

# One statement per page: store new requests (a repeat changes nothing), count them per second and
# fold them into the metrics. Slippage: points between requested and executed price, positive when
# the fill is better for the client (a buy below, a sell above the price asked for).
_INGEST = """
WITH src AS (
    SELECT * FROM unnest(CAST(:orders AS bigint[]), CAST(:times AS bigint[]), CAST(:logins AS bigint[]),
        CAST(:symbols AS text[]), CAST(:actions AS int[]), CAST(:volumes AS numeric[]),
        CAST(:requested AS numeric[]), CAST(:executed AS numeric[]), CAST(:states AS text[]),
        CAST(:positions AS bigint[]), CAST(:comments AS text[]), CAST(:kinds AS text[]), CAST(:done AS bigint[]))
        AS x(order_id, time_ms, login, symbol, action, volume, requested, executed, state, position_id, comment, kind,
             done_ms)
),
ins AS (
    INSERT INTO risk_order_requests (server_id, order_id, time_ms, login, account_id, symbol, side, volume,
        requested_price, executed_price, state, position_id, slippage_points, comment, order_kind, done_ms)
    SELECT :s, x.order_id, x.time_ms, x.login, a.id, x.symbol, CASE WHEN x.action = 0 THEN 'BUY' ELSE 'SELL' END,
        x.volume, x.requested, x.executed, x.state, x.position_id,
        round((x.requested - x.executed) * power(10::numeric, i.digits) * CASE WHEN x.action = 0 THEN 1 ELSE -1 END,
              2),
        x.comment, x.kind, x.done_ms
    FROM src x
    LEFT JOIN trading_accounts a ON a.server_id = :s AND a.login = x.login
    LEFT JOIN trading_instruments i ON i.server_id = :s AND i.symbol = x.symbol
    ORDER BY x.order_id
    ON CONFLICT DO NOTHING
    RETURNING account_id, login, time_ms, state, slippage_points
),
per_second AS (
    INSERT INTO risk_request_seconds AS r (account_id, second, requests)
    SELECT account_id, time_ms / 1000, count(*) FROM ins WHERE account_id IS NOT NULL GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (account_id, second) DO UPDATE SET requests = r.requests + excluded.requests
)
INSERT INTO risk_account_metrics AS m (account_id, server_id, login, user_id, requests, rejected_requests,
    slip_fills, slip_points_sum, slip_favour, slip_against)
SELECT ins.account_id, :s, min(ins.login), min(a.user_id), count(*), count(*) FILTER (WHERE ins.state = 'REJECTED'),
    count(ins.slippage_points), COALESCE(sum(ins.slippage_points), 0),
    count(*) FILTER (WHERE ins.slippage_points > 0), count(*) FILTER (WHERE ins.slippage_points < 0)
FROM ins JOIN trading_accounts a ON a.id = ins.account_id
GROUP BY ins.account_id
ORDER BY ins.account_id
ON CONFLICT (account_id) DO UPDATE SET
    requests = m.requests + excluded.requests, rejected_requests = m.rejected_requests + excluded.rejected_requests,
    slip_fills = m.slip_fills + excluded.slip_fills, slip_points_sum = m.slip_points_sum + excluded.slip_points_sum,
    slip_favour = m.slip_favour + excluded.slip_favour, slip_against = m.slip_against + excluded.slip_against,
    user_id = COALESCE(excluded.user_id, m.user_id), updated_at = now()
RETURNING account_id
"""


@dataclass
class RequestPull:
    server_id: int
    supported: bool = True
    pages: int = 0
    fetched: int = 0
    accounts: int = 0
    flags: int = 0
    cursor: DealCursor = field(default_factory=DealCursor.start)


async def ingest_requests(session: AsyncSession, server_id: int, requests: Sequence[OrderRequest]) -> list[int]:
    """Store one page of requests and update the metrics; returns the accounts it touched."""
    if not requests:
        return []
    params = {
        "s": server_id, "orders": [r.order for r in requests], "times": [r.time_msc for r in requests],
        "logins": [r.login for r in requests], "symbols": [r.symbol[:32] for r in requests],
        "actions": [r.action for r in requests], "volumes": [r.volume for r in requests],
        "requested": [r.requested_price for r in requests], "executed": [r.executed_price for r in requests],
        "states": [r.state.value for r in requests], "positions": [r.position_id for r in requests],
        "comments": [r.comment[:64] for r in requests], "kinds": [r.kind.value for r in requests],
        "done": [r.done_msc for r in requests],
    }  # fmt: skip
    return sorted(set(await session.scalars(text(_INGEST), params)))


async def _cursor(session: AsyncSession, server_id: int) -> DealCursor:
    await session.execute(text(
        "INSERT INTO risk_request_cursors (server_id) VALUES (:s) ON CONFLICT DO NOTHING"), {"s": server_id})
    row = (await session.execute(text(
        "SELECT time_ms, order_id FROM risk_request_cursors WHERE server_id = :s FOR UPDATE"), {"s": server_id})).one()
    return DealCursor(int(row.time_ms), int(row.order_id))


async def pull_requests(
    session_factory: SessionFactory, server_id: int, platform: TradingPlatform, actor: Actor, *,
    page_size: int = PAGE_SIZE, max_pages: int | None = None,
) -> RequestPull:  # fmt: skip
    """Pull every order request after the server's cursor (see the module docstring)."""
    result = RequestPull(server_id)
    async with session_factory() as session, session.begin():
        cursor = await _cursor(session, server_id)
    while max_pages is None or result.pages < max_pages:
        page = await platform.order_requests_since(cursor, page_size)
        if page is None:
            result.supported = False
            break
        async with session_factory() as session:
            unknown = await accounts.unknown_logins(session, server_id, {r.login for r in page.requests})
        specs = await accounts.fetch_account_specs(platform, unknown)
        async with session_factory() as session, session.begin():
            if await _cursor(session, server_id) >= page.next_cursor and page.requests:
                break  # another worker stored this page meanwhile
            await accounts.register_accounts(session, server_id, specs)
            touched = await ingest_requests(session, server_id, page.requests)
            result.flags += await detectors.run_requests(session, actor, touched)
            await session.execute(text(
                "UPDATE risk_request_cursors SET time_ms = :t, order_id = :o, updated_at = now() "
                "WHERE server_id = :s AND (time_ms, order_id) < (:t, :o)"
            ), {"s": server_id, "t": page.next_cursor.time_ms, "o": page.next_cursor.deal_id})  # fmt: skip
        result.pages += 1
        result.fetched += len(page.requests)
        result.accounts += len(touched)
        cursor = max(cursor, page.next_cursor)
        if not page.has_more or not page.requests:
            break
    result.cursor = cursor
    return result
