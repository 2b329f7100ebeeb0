"""Partner (IB portal) reads: an IB's own downline to its visible depth, never anything else.

Every read starts from `partner()` (the approved IB and its per-IB settings) and is scoped by
the current closure rows under that IB with depth <= visible_depth, in the SQL itself: a client
or sub-IB outside that set is simply "not found". PII is masked unless the IB's flag allows it.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ib.errors import ClientNotFound, IbNotFound
from domain.ib.masking import mask_email, mask_name, mask_phone
from domain.shared.pagination import Page, PageRequest, cursor_decoder, sql_page


@dataclass(frozen=True)
class Partner:
    ib_id: int
    visible_depth: int
    show_client_pii: bool
    payout_cycle: str
    payout_min: Decimal
    payout_hold: bool


async def partner(session: AsyncSession, ib_id: int | None) -> Partner:
    """The approved IB behind a partner request; anyone else is not an IB here."""
    row = (await session.execute(text(
        "SELECT user_id, visible_depth, show_client_pii, payout_cycle, payout_min, payout_hold FROM ib_partners "
        "WHERE user_id = :id AND status = 'approved'"), {"id": ib_id or 0})).first()
    if row is None:
        raise IbNotFound("you are not an approved IB", field=None)
    return Partner(int(row.user_id), int(row.visible_depth), bool(row.show_client_pii), str(row.payout_cycle),
                   Decimal(row.payout_min), bool(row.payout_hold))


def clamp_depth(p: Partner, depth: int | None) -> int:
    """The depth actually shown: what was asked, never beyond the IB's visible depth."""
    return p.visible_depth if depth is None else max(0, min(depth, p.visible_depth))


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str
    masked: bool  # True when name, e-mail and phone are masked (the brokerage does not show this IB clients' PII)


def _contact(p: Partner, name: str, email: str, phone: str) -> Contact:
    if p.show_client_pii:
        return Contact(name, email, phone, masked=False)
    return Contact(mask_name(name), mask_email(email), mask_phone(phone), masked=True)


@dataclass(frozen=True)
class TreeMember:
    ib_id: int
    parent_id: int | None
    depth: int
    contact: Contact
    clients: int
    joined_at: datetime


_TREE_COLUMNS = """c.descendant_id AS ib_id, e.parent_id, c.depth, u.display_name, u.email, p.decided_at,
    (SELECT count(*) FROM ib_client_attributions a WHERE a.ib_id = c.descendant_id AND a.valid_to IS NULL) AS clients"""
_TREE_FROM = """ib_closure c
    JOIN users u ON u.id = c.descendant_id
    JOIN ib_partners p ON p.user_id = c.descendant_id
    LEFT JOIN ib_tree_edges e ON e.ib_id = c.descendant_id AND e.valid_to IS NULL"""
decode_tree_cursor = cursor_decoder(int, int)


def tree_key(m: TreeMember) -> tuple[int, int]:
    return m.depth, m.ib_id


def _member(p: Partner, r: object) -> TreeMember:
    m = r._mapping  # type: ignore[attr-defined]
    return TreeMember(int(m["ib_id"]), int(m["parent_id"]) if m["parent_id"] is not None else None, int(m["depth"]),
                      _contact(p, m["display_name"] or "", m["email"] or "", ""), int(m["clients"]), m["decided_at"])


async def tree_members(session: AsyncSession, p: Partner, ib_ids: list[int]) -> dict[int, TreeMember]:
    """The given sub-IBs that are in this IB's tree within its visible depth (one statement), as `tree` shows them."""
    rows = (await session.execute(text(
        f"SELECT {_TREE_COLUMNS} FROM {_TREE_FROM} WHERE c.ancestor_id = :ib AND c.valid_to IS NULL "
        "AND c.depth BETWEEN 1 AND :d AND c.descendant_id = ANY(:ids)"),
        {"ib": p.ib_id, "d": p.visible_depth, "ids": ib_ids})).all()
    return {m.ib_id: m for m in (_member(p, r) for r in rows)}


async def tree(session: AsyncSession, p: Partner, page: PageRequest, depth: int | None = None) -> Page[TreeMember]:
    """The sub-IBs to `depth`, level by level (keyset on depth, IB id)."""
    return await sql_page(
        session, page, columns=_TREE_COLUMNS, source=_TREE_FROM,
        where=["c.ancestor_id = :ib", "c.valid_to IS NULL", "c.depth BETWEEN 1 AND :d"],
        params={"ib": p.ib_id, "d": clamp_depth(p, depth)}, key=("c.depth", "c.descendant_id"), descending=False,
        convert=lambda r: _member(p, r))


@dataclass(frozen=True)
class ClientRow:
    client_id: int
    ib_id: int
    depth: int
    contact: Contact
    status: str
    registered_at: datetime
    lots: Decimal
    deposits: dict[str, Decimal]


# Current attributions of IBs in the visible subtree; volume and deposits per client.
_CLIENTS = """
WITH sub AS (
    SELECT descendant_id AS ib_id, depth FROM ib_closure
    WHERE ancestor_id = :ib AND valid_to IS NULL AND depth <= :d
)
SELECT a.client_id, a.ib_id, sub.depth, a.valid_from, u.email, u.display_name,
       coalesce(c.status, 'registered') AS status, coalesce(c.profile->>'phone', '') AS phone,
       trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')) AS full_name,
       (SELECT coalesce(sum(d.volume), 0) FROM trading_accounts ta JOIN trading_deals d ON d.account_id = ta.id
        WHERE ta.user_id = a.client_id AND d.action IN (0, 1)) AS lots,
       (SELECT coalesce(jsonb_object_agg(x.cur, x.amt), '{}') FROM (
            SELECT la.currency AS cur, (-sum(lp.amount))::text AS amt
            FROM ledger_accounts la JOIN ledger_postings lp ON lp.account_id = la.id
            JOIN ledger_entries le ON le.id = lp.entry_id
            WHERE la.owner_id = a.client_id AND la.purpose = 'client_wallet' AND le.ref_kind = 'deposit'
            GROUP BY la.currency) x) AS deposits
FROM ib_client_attributions a
JOIN sub ON sub.ib_id = a.ib_id
JOIN users u ON u.id = a.client_id
LEFT JOIN clients c ON c.user_id = a.client_id
WHERE a.valid_to IS NULL
"""


def _client(p: Partner, r: object) -> ClientRow:
    m = r._mapping  # type: ignore[attr-defined]
    name = m["full_name"] or m["display_name"] or ""
    return ClientRow(int(m["client_id"]), int(m["ib_id"]), int(m["depth"]),
                     _contact(p, name, m["email"] or "", m["phone"]), str(m["status"]), m["valid_from"],
                     Decimal(m["lots"]), {k: Decimal(v) for k, v in dict(m["deposits"]).items()})


async def clients(session: AsyncSession, p: Partner, page: PageRequest, *,
                  depth: int | None = None) -> Page[ClientRow]:
    """The subtree's clients in the order they came (keyset on valid_from, client_id)."""
    return await sql_page(session, page, columns="*", source=f"({_CLIENTS}) t", where=[],
                          params={"ib": p.ib_id, "d": clamp_depth(p, depth)}, key=("t.valid_from", "t.client_id"),
                          descending=False, convert=lambda r: _client(p, r))


async def client(session: AsyncSession, p: Partner, client_id: int) -> ClientRow:
    """One client of the visible downline; any other id (a sibling's client, ...) is not found."""
    rows = (await session.execute(text(_CLIENTS + " AND a.client_id = :cid"),
                                  {"ib": p.ib_id, "d": p.visible_depth, "cid": client_id})).all()
    if not rows:
        raise ClientNotFound("no such client", field="clientId")
    return _client(p, rows[0])


class GroupBy(StrEnum):
    DAY = "day"
    MONTH = "month"
    SYMBOL = "symbol"
    LEVEL = "level"
    CLIENT = "client"
    SOURCE = "source"


_GROUP_KEY = {
    GroupBy.DAY: "to_char(deal_time AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    GroupBy.MONTH: "to_char(deal_time AT TIME ZONE 'UTC', 'YYYY-MM')",
    GroupBy.SYMBOL: "coalesce(symbol, '')",
    GroupBy.LEVEL: "level::text",
    # Clients below the visible depth are earned on but not shown.
    GroupBy.CLIENT: "CASE WHEN level <= :d THEN client_id::text ELSE 'hidden' END",
    GroupBy.SOURCE: "source",
}


@dataclass(frozen=True)
class CommissionGroup:
    key: str
    currency: str
    amount: Decimal
    lines: int
    lots: Decimal


async def commissions(session: AsyncSession, p: Partner, period_from: datetime, period_to: datetime,
                      group_by: GroupBy, *, client_id: int | None = None) -> list[CommissionGroup]:
    """The IB's own commission lines (all kinds, net) in [from, to), grouped."""
    if client_id is not None:
        await client(session, p, client_id)
    key = _GROUP_KEY[group_by]
    rows = (await session.execute(text(
        f"SELECT {key} AS k, currency, sum(amount) AS amount, count(*) AS lines, "
        "coalesce(sum(volume) FILTER (WHERE kind = 'accrual'), 0) AS lots "
        "FROM ib_commission_lines WHERE ib_id = :ib AND deal_time >= :t0 AND deal_time < :t1 "
        "AND (CAST(:c AS bigint) IS NULL OR client_id = :c) GROUP BY 1, 2 ORDER BY 1, 2"),
        {"ib": p.ib_id, "t0": period_from, "t1": period_to, "d": p.visible_depth, "c": client_id})).all()
    return [CommissionGroup(str(r.k), str(r.currency), Decimal(r.amount), int(r.lines), Decimal(r.lots))
            for r in rows]


@dataclass(frozen=True)
class LinkStats:
    id: int
    code: str
    campaign: str
    clicks: int
    registrations: int
    depositors: int
    created_at: datetime


async def referral_links(session: AsyncSession, p: Partner, page: PageRequest) -> Page[LinkStats]:
    """The partner's active links in the order they were made (counts for the page's links only)."""
    return await sql_page(
        session, page, columns="*", source="""(
        SELECT l.id, l.code, l.campaign, l.clicks, l.created_at,
               count(DISTINCT a.client_id) AS registrations,
               count(DISTINCT a.client_id) FILTER (WHERE EXISTS (
                   SELECT 1 FROM ledger_accounts la JOIN ledger_postings lp ON lp.account_id = la.id
                   JOIN ledger_entries le ON le.id = lp.entry_id
                   WHERE la.owner_id = a.client_id AND la.purpose = 'client_wallet' AND le.ref_kind = 'deposit'))
                   AS depositors
        FROM ib_referral_links l LEFT JOIN ib_client_attributions a ON a.link_id = l.id
        WHERE l.ib_id = :ib AND l.disabled_at IS NULL
        GROUP BY l.id) s""", where=[], params={"ib": p.ib_id}, key=("s.created_at", "s.id"), descending=False,
        convert=lambda r: LinkStats(int(r.id), r.code, r.campaign, int(r.clicks), int(r.registrations),
                                    int(r.depositors), r.created_at))


@dataclass(frozen=True)
class CommissionLine:
    id: int
    deal_time: datetime
    kind: str
    source: str
    level: int
    client_id: int | None  # None below the IB's visible depth
    symbol: str | None
    volume: Decimal | None
    amount: Decimal
    currency: str
    formula: str


_LINE_COLUMNS = ("id, deal_time, kind, source, level, CASE WHEN level <= :d THEN client_id END AS client_id, symbol, "
                 "volume, amount, currency, formula")


def _line(r: Any) -> CommissionLine:
    return CommissionLine(int(r.id), r.deal_time, str(r.kind), str(r.source), int(r.level),
                          int(r.client_id) if r.client_id is not None else None, r.symbol or None,
                          Decimal(r.volume) if r.volume is not None else None, Decimal(r.amount), str(r.currency),
                          str(r.formula))


async def commission_lines(session: AsyncSession, p: Partner, page: PageRequest, t0: datetime,
                           t1: datetime) -> Page[CommissionLine]:
    """The IB's own commission lines with deal time in [t0, t1), newest first (keyset on deal time, id, on the
    (ib_id, deal_time) index); a client below the visible depth is not named."""
    return await sql_page(
        session, page, columns=_LINE_COLUMNS, source="ib_commission_lines",
        where=["ib_id = :ib", "deal_time >= :t0", "deal_time < :t1"],
        params={"ib": p.ib_id, "d": p.visible_depth, "t0": t0, "t1": t1}, key=("deal_time", "id"),
        descending=True, convert=_line)


async def commission_lines_by_ids(session: AsyncSession, p: Partner, ids: list[int]) -> dict[int, CommissionLine]:
    """The given lines that are this IB's own (one statement), as `commission_lines` shows them."""
    rows = (await session.execute(text(
        f"SELECT {_LINE_COLUMNS} FROM ib_commission_lines WHERE ib_id = :ib AND id = ANY(:ids)"),
        {"ib": p.ib_id, "d": p.visible_depth, "ids": ids})).all()
    return {line.id: line for line in map(_line, rows)}
