"""The retail-client loss percentage that ESMA's CFD risk warning publishes ("N% of retail investor
accounts lose money when trading CFDs with this provider"): computed at the start of each calendar
quarter over the 12 months before it, kept per quarter (retail_loss_quarters) and shown on the
portals as it was last computed.

- Retail: real trading accounts of individual clients. The CRM does not model an elective
  professional classification, so every individual's account counts as retail and a corporate
  client's (a per se professional) does not.
- An account counts when it traded (a buy or sell deal) in the period or held positions at its end;
  it lost money when its result is below zero: the realised result over the period, net of the costs
  the deals carry (profit + commission + swap + fee), plus the unrealised result of the positions
  still open at the period's end: the floating profit of the account's last platform snapshot on the
  period's last day (the capture job runs at 23:55 UTC; a snapshot from before that column: equity
  less balance). Balance operations (deposits,
  withdrawals, credits) are not trading results.
- The figure is the losing share of the counted accounts in percent, at two places (half even); with
  no account counted there is no figure (null), not 0%.

Computing a quarter again gives the same rows (the deals of a closed period do not change), so the
quarterly job may run twice or be caught up later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.shared.actor import Actor
from domain.shared.errors import ValidationFailed

PERIOD_MONTHS = 12


@dataclass(frozen=True)
class QuarterFigure:
    quarter_start: date
    period_from: datetime
    period_to: datetime  # exclusive: the quarter's first instant
    retail_accounts: int
    losing_accounts: int
    loss_percentage: Decimal | None
    computed_at: datetime


def quarter_start(day: date) -> date:
    """The first day of the calendar quarter holding `day`."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def period_of(quarter: date) -> tuple[datetime, datetime]:
    """[the same day 12 months earlier, the quarter's start), both at 00:00 UTC."""
    if quarter != quarter_start(quarter):
        raise ValidationFailed("a quarter starts on 1 January, April, July or October", field="quarter")
    start = datetime(quarter.year, quarter.month, 1, tzinfo=UTC)
    return start.replace(year=start.year - PERIOD_MONTHS // 12), start


def percentage(losing: int, counted: int) -> Decimal | None:
    if counted == 0:
        return None
    return (Decimal(100) * losing / counted).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


_COUNT = text(
    """
    WITH realised AS (
        SELECT d.account_id, sum(d.profit + d.commission + d.storage + d.fee) AS result
        FROM trading_deals d
        JOIN trading_accounts a ON a.id = d.account_id AND a.account_type = 'real'
        JOIN clients c ON c.user_id = a.user_id AND c.kind = 'individual'
        WHERE d.time >= :t0 AND d.time < :t1 AND d.action IN (0, 1)
        GROUP BY d.account_id
    ), unrealised AS (
        SELECT a.id AS account_id, s.floating AS result
        FROM trading_accounts a
        JOIN clients c ON c.user_id = a.user_id AND c.kind = 'individual'
        JOIN LATERAL (
            SELECT coalesce(b.floating_profit, b.equity - b.balance) AS floating
            FROM reconciliation_platform_balances b
            WHERE b.server_id = a.server_id::text AND b.login = a.login
              AND b.captured_at >= CAST(:t1 AS timestamptz) - interval '1 day' AND b.captured_at < :t1
            ORDER BY b.captured_at DESC LIMIT 1) s ON true
        WHERE a.account_type = 'real' AND s.floating <> 0
    ), results AS (
        SELECT account_id, sum(result) AS result
        FROM (SELECT * FROM realised UNION ALL SELECT * FROM unrealised) r GROUP BY account_id
    )
    SELECT count(*) AS counted, count(*) FILTER (WHERE result < 0) AS losing,
           (SELECT count(*) FROM unrealised) AS open_accounts FROM results
    """
)

_COLS = "quarter_start, period_from, period_to, retail_accounts, losing_accounts, loss_percentage, computed_at"


def _figure(r: object) -> QuarterFigure:
    return QuarterFigure(r.quarter_start, r.period_from, r.period_to, r.retail_accounts,  # type: ignore[attr-defined]
                         r.losing_accounts, r.loss_percentage, r.computed_at)  # type: ignore[attr-defined]


async def compute(session: AsyncSession, actor: Actor, quarter: date) -> QuarterFigure:
    """Count the quarter's period and store (or restate) its figure; audited."""
    t0, t1 = period_of(quarter)
    counts = (await session.execute(_COUNT, {"t0": t0, "t1": t1})).one()
    counted, losing, open_accounts = int(counts.counted), int(counts.losing), int(counts.open_accounts)
    row = (await session.execute(text(
        f"INSERT INTO retail_loss_quarters ({_COLS}) VALUES (:q, :t0, :t1, :n, :l, :p, now()) "  # noqa: S608
        "ON CONFLICT (quarter_start) DO UPDATE SET period_from = EXCLUDED.period_from, "
        "period_to = EXCLUDED.period_to, retail_accounts = EXCLUDED.retail_accounts, "
        "losing_accounts = EXCLUDED.losing_accounts, loss_percentage = EXCLUDED.loss_percentage, "
        f"computed_at = EXCLUDED.computed_at RETURNING {_COLS}"),
        {"q": quarter, "t0": t0, "t1": t1, "n": counted, "l": losing, "p": percentage(losing, counted)})).one()
    figure = _figure(row)
    await record(session, actor, action="risk.retail_loss_computed", entity_type="retail_loss_quarter",
                 entity_id=quarter.isoformat(),
                 after={"retail_accounts": counted, "losing_accounts": losing, "with_open_positions": open_accounts,
                        "loss_percentage": None if figure.loss_percentage is None else str(figure.loss_percentage)})
    return figure


async def compute_due(session: AsyncSession, actor: Actor, today: date) -> QuarterFigure | None:
    """The current quarter's figure when it is not stored yet (the job runs daily, so a missed first
    day of a quarter is caught up the next); None when it already is."""
    quarter = quarter_start(today)
    if await session.scalar(text("SELECT 1 FROM retail_loss_quarters WHERE quarter_start = :q"), {"q": quarter}):
        return None
    return await compute(session, actor, quarter)


async def published(session: AsyncSession, as_of: date | None = None) -> QuarterFigure | None:
    """The figure in force on `as_of` (default: the latest computed): its quarter's, else the latest
    earlier one."""
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM retail_loss_quarters WHERE (CAST(:d AS date) IS NULL OR quarter_start <= :d) "  # noqa: S608
        "ORDER BY quarter_start DESC LIMIT 1"), {"d": as_of})).first()
    return None if row is None else _figure(row)
