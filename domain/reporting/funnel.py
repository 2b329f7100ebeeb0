"""The acquisition funnel: lead -> registered -> e-mail verified -> approved -> first deposit -> first trade,
by campaign, source, country or IB (referral code), with conversion and median time between steps.

The cohort is the clients registered in [since, until) (and the leads captured then); each step is
read per client through an index: the e-mail verification on the user, the first approval in the
status history, the first deposit from the reporting rollups (`reporting_first_deposits`), the first
trade from the risk trade log (`risk_trades` by account, opening time). Desk-scoped as the reports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reporting.reports import Scope, check_period
from domain.reporting.rollups import day_start


class FunnelDimension(enum.Enum):
    CAMPAIGN = "campaign"
    SOURCE = "source"
    COUNTRY = "country"
    IB = "ib"


_CLIENT_KEY = {FunnelDimension.CAMPAIGN: "COALESCE(c.attribution->>'utm_campaign', '')",
               FunnelDimension.SOURCE: "COALESCE(c.attribution->>'utm_source', '')",
               FunnelDimension.COUNTRY: "COALESCE(rtrim(c.country), '')",
               FunnelDimension.IB: "COALESCE(c.attribution->>'ib_code', '')"}
_LEAD_KEY = {FunnelDimension.CAMPAIGN: "COALESCE(l.first_touch->>'utm_campaign', '')",
             FunnelDimension.SOURCE: "COALESCE(l.first_touch->>'utm_source', '')",
             FunnelDimension.COUNTRY: "COALESCE(rtrim(l.country), '')",
             FunnelDimension.IB: "COALESCE(l.first_touch->>'ib_code', '')"}

_HOURS = "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM {b} - {a}) / 3600)"
_CLIENTS = """
WITH cohort AS (
    SELECT c.id, c.user_id, c.created_at AS registered_at, {key} AS key, u.email_verified_at AS verified_at,
        (SELECT min(h.created_at) FROM client_status_history h WHERE h.client_id = c.id AND h.to_status = 'approved')
            AS approved_at,
        (SELECT e.created_at FROM reporting_first_deposits f JOIN ledger_entries e ON e.id = f.entry_id
         WHERE f.user_id = c.user_id) AS deposited_at,
        (SELECT to_timestamp(min(x.first_ms) / 1000.0) FROM trading_accounts a CROSS JOIN LATERAL (
            SELECT t.open_ms AS first_ms FROM risk_trades t WHERE t.account_id = a.id AND t.open_ms IS NOT NULL
            ORDER BY t.open_ms LIMIT 1) x WHERE a.user_id = c.user_id) AS traded_at
    FROM clients c JOIN users u ON u.id = c.user_id
    WHERE c.created_at >= :t0 AND c.created_at < :t1 AND {scope}
)
SELECT key, count(*) AS registered, count(verified_at) AS verified, count(approved_at) AS approved,
    count(deposited_at) AS deposited, count(traded_at) AS traded,
    {h_verify} AS h_verify, {h_approve} AS h_approve, {h_deposit} AS h_deposit, {h_trade} AS h_trade
FROM cohort GROUP BY ROLLUP (key)
"""
_LEADS = """
SELECT {key} AS key, count(*) AS leads, count(l.client_id) AS converted
FROM leads l WHERE l.created_at >= :t0 AND l.created_at < :t1 AND {scope} GROUP BY ROLLUP (1)
"""


@dataclass
class FunnelLine:
    key: str | None  # None: every key
    leads: int = 0
    converted_leads: int = 0
    registered: int = 0
    verified: int = 0
    approved: int = 0
    first_deposits: int = 0
    first_trades: int = 0
    median_hours_to_verify: Decimal | None = None
    median_hours_to_approve: Decimal | None = None
    median_hours_to_first_deposit: Decimal | None = None
    median_hours_first_deposit_to_first_trade: Decimal | None = None

    def rate(self, step: int, of: int) -> Decimal | None:
        return (Decimal(step) / Decimal(of)).quantize(Decimal("0.0001")) if of else None


@dataclass
class Funnel:
    since: date
    until: date
    dimension: FunnelDimension
    lines: list[FunnelLine]
    total: FunnelLine


def _h(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


async def funnel(session: AsyncSession, scope: Scope, since: date, until: date,
                 dimension: FunnelDimension) -> Funnel:
    check_period(since, until)
    client_scope, params = scope.where("c.desk")
    lead_scope, _ = scope.where("l.desk")
    bound = {"t0": day_start(since), "t1": day_start(until), **params}
    sql = _CLIENTS.format(
        key=_CLIENT_KEY[dimension], scope=client_scope,
        h_verify=_HOURS.format(a="registered_at", b="verified_at"),
        h_approve=_HOURS.format(a="registered_at", b="approved_at"),
        h_deposit=_HOURS.format(a="registered_at", b="deposited_at"),
        h_trade=_HOURS.format(a="deposited_at", b="traded_at"))
    lines: dict[str | None, FunnelLine] = {}
    for r in (await session.execute(text(sql), bound)).all():
        lines[r.key] = FunnelLine(r.key, registered=int(r.registered), verified=int(r.verified),
                                  approved=int(r.approved), first_deposits=int(r.deposited),
                                  first_trades=int(r.traded), median_hours_to_verify=_h(r.h_verify),
                                  median_hours_to_approve=_h(r.h_approve),
                                  median_hours_to_first_deposit=_h(r.h_deposit),
                                  median_hours_first_deposit_to_first_trade=_h(r.h_trade))
    leads_sql = _LEADS.format(key=_LEAD_KEY[dimension], scope=lead_scope)
    for r in (await session.execute(text(leads_sql), bound)).all():
        line = lines.setdefault(r.key, FunnelLine(r.key))
        line.leads, line.converted_leads = int(r.leads), int(r.converted)
    total = lines.pop(None, FunnelLine(None))
    ordered = sorted(lines.values(), key=lambda x: (-x.registered, -x.leads, x.key or ""))
    return Funnel(since, until, dimension, ordered, total)
