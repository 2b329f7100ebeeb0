"""What-if segmentation: the broker's P&L and net exposure for some accounts had they been booked at
another A-book share over a period, beside what the booking in force actually gave. Set-based over
`trading_deals` (two statements, no per-deal Python).

- Client trading P&L of a deal: profit + swap of its closing side (entry out / in-out / out-by), in
  USD at the account currency's rate in force at the deal (`trading_usd_rates`; USD is 1).
  Commissions and fees are the broker's either way and are left out.
- The broker keeps the B-booked share: broker P&L = -client P&L x (1 - A-book% / 100).
- Actual A-book%: the assignment in force at the deal (`risk_assignments`), else the account
  group's mapping (`risk_group_books`, current group), else 0 (unmapped groups are B-booked).
- Exposure: the accounts' net lots per symbol at `until` (every deal before it), and the share the
  broker keeps, -net x (1 - A-book% / 100), under each booking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk.errors import WhatIfInvalid
from domain.risk.segmentation import BOOKS

_CENT = Decimal("0.01")
_LOT = Decimal("1e-8")

_ACCOUNTS = """
acc AS (SELECT a.id, a.server_id, a.login, a."group" AS grp, a.currency FROM trading_accounts a
        WHERE a.id = ANY(:ids))
"""

_ACTUAL_PCT = """
COALESCE((SELECT x.a_book_pct FROM risk_assignments x WHERE x.account_id = {acc} AND x.effective_at <= {at}
          ORDER BY x.effective_at DESC, x.id DESC LIMIT 1),
         (SELECT gb.a_book_pct FROM risk_group_books gb WHERE gb.server_id = {srv} AND gb.grp = {grp}), 0)
"""

_PNL = f"""
WITH {_ACCOUNTS},
d AS (
    SELECT d.symbol, d.time, acc.id AS account_id, acc.server_id, acc.grp, acc.currency,
        d.profit + d.storage AS pnl
    FROM acc JOIN trading_deals d ON d.server_id = acc.server_id AND d.login = acc.login
    WHERE d.time >= :since AND d.time < :until AND d.action IN (0, 1) AND d.entry IN (1, 2, 3)
),
priced AS (
    SELECT d.symbol, d.currency, d.pnl * CASE WHEN d.currency = 'USD' THEN 1 ELSE (
            SELECT u.rate FROM trading_usd_rates u WHERE u.currency = d.currency AND u.valid_from <= d.time
            ORDER BY u.valid_from DESC LIMIT 1) END AS pnl_usd,
        {_ACTUAL_PCT.format(acc="d.account_id", at="d.time", srv="d.server_id", grp="d.grp")} AS pct
    FROM d
)
SELECT symbol, count(*) AS deals, sum(pnl_usd) AS client_pnl,
    sum(-pnl_usd * (1 - pct / 100)) AS broker_actual,
    sum(-pnl_usd * (1 - CAST(:pct AS numeric) / 100)) AS broker_whatif,
    array_agg(DISTINCT currency) FILTER (WHERE pnl_usd IS NULL) AS unconverted
FROM priced GROUP BY symbol
"""  # noqa: S608 - constant SQL fragments

_NET = f"""
WITH {_ACCOUNTS},
net AS (
    SELECT acc.id AS account_id, acc.server_id, acc.grp, d.symbol,
        sum(CASE WHEN d.action = 0 THEN d.volume ELSE -d.volume END) AS lots
    FROM acc JOIN trading_deals d ON d.server_id = acc.server_id AND d.login = acc.login
    WHERE d.time < :until AND d.action IN (0, 1)
    GROUP BY 1, 2, 3, 4
)
SELECT symbol, sum(lots) AS client_lots,
    sum(-lots * (1 - {_ACTUAL_PCT.format(acc="account_id", at=":until", srv="server_id", grp="grp")} / 100))
        AS broker_actual,
    sum(-lots * (1 - CAST(:pct AS numeric) / 100)) AS broker_whatif
FROM net GROUP BY symbol
"""  # noqa: S608 - constant SQL fragments


@dataclass
class WhatIfLine:
    symbol: str
    closing_deals: int = 0
    client_pnl_usd: Decimal | None = Decimal(0)
    broker_pnl_actual_usd: Decimal | None = Decimal(0)
    broker_pnl_what_if_usd: Decimal | None = Decimal(0)
    client_net_lots: Decimal = Decimal(0)
    broker_net_lots_actual: Decimal = Decimal(0)
    broker_net_lots_what_if: Decimal = Decimal(0)


@dataclass
class WhatIfReport:
    account_ids: list[int]
    book: str
    a_book_pct: Decimal
    since: datetime
    until: datetime
    lines: list[WhatIfLine]
    total: WhatIfLine
    unconverted_currencies: list[str] = field(default_factory=list)


def _m(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v).quantize(_CENT)


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


async def what_if(
    session: AsyncSession, account_ids: list[int], book: str, a_book_pct: Decimal, since: datetime,
    until: datetime,
) -> WhatIfReport:  # fmt: skip
    """These accounts booked at `book` / `a_book_pct` over [since, until), against the booking in force."""
    if book not in BOOKS:
        raise WhatIfInvalid(f"book must be one of {', '.join(BOOKS)}", field="book")
    pct = {"A": Decimal(100), "B": Decimal(0)}.get(book, a_book_pct)
    if not pct.is_finite() or not Decimal(0) <= pct <= Decimal(100):
        raise WhatIfInvalid("aBookPercent must be between 0 and 100", field="aBookPercent")
    if since.tzinfo is None or until.tzinfo is None or since >= until:
        raise WhatIfInvalid("give a period with since before until (with a time zone)", field="since")
    if not account_ids:
        raise WhatIfInvalid("name at least one client with a trading account", field="clientIds")
    params = {"ids": account_ids, "since": since, "until": until, "pct": pct}
    lines: dict[str, WhatIfLine] = {}
    unconverted: set[str] = set()
    for r in (await session.execute(text(_PNL), params)).all():
        line = lines.setdefault(r.symbol, WhatIfLine(r.symbol))
        line.closing_deals = int(r.deals)
        unconverted.update(r.unconverted or ())
        ok = not r.unconverted
        line.client_pnl_usd = _m(r.client_pnl) if ok else None
        line.broker_pnl_actual_usd = _m(r.broker_actual) if ok else None
        line.broker_pnl_what_if_usd = _m(r.broker_whatif) if ok else None
    for r in (await session.execute(text(_NET), params)).all():
        if not r.client_lots:
            continue
        line = lines.setdefault(r.symbol, WhatIfLine(r.symbol))
        line.client_net_lots = Decimal(r.client_lots).quantize(_LOT)
        line.broker_net_lots_actual = Decimal(r.broker_actual).quantize(_LOT)
        line.broker_net_lots_what_if = Decimal(r.broker_whatif).quantize(_LOT)
    total = WhatIfLine("*")
    for x in lines.values():
        total.closing_deals += x.closing_deals
        total.client_pnl_usd = _add(total.client_pnl_usd, x.client_pnl_usd)
        total.broker_pnl_actual_usd = _add(total.broker_pnl_actual_usd, x.broker_pnl_actual_usd)
        total.broker_pnl_what_if_usd = _add(total.broker_pnl_what_if_usd, x.broker_pnl_what_if_usd)
        total.client_net_lots += x.client_net_lots
        total.broker_net_lots_actual += x.broker_net_lots_actual
        total.broker_net_lots_what_if += x.broker_net_lots_what_if
    return WhatIfReport(sorted(account_ids), book, pct, since, until, sorted(lines.values(), key=lambda x: x.symbol),
                        total, sorted(unconverted))  # fmt: skip
