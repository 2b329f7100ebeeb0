"""Links between trading accounts that the hedging detector treats as one party: staff declare them
(the same person behind two clients, a shared IP address or device, a shared payment method or KYC
match, a declared relation). A linked pair needs fewer matched hedges to be flagged
(`min_pairs_linked` instead of `min_pairs_unlinked`, domain/risk/detectors.py).

A link is stored once per (pair, kind) with the lower account id first; linking twice is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.risk.errors import AccountLinkInvalid, AccountLinkNotFound, RiskAccountNotFound
from domain.shared.actor import Actor
from domain.shared.pagination import Page, PageRequest, cursor_decoder, sql_page

# Stored kind: what it means.
KINDS = {
    "person": "the same person behind both accounts",
    "ip": "the same IP address",
    "device": "the same device",
    "payment": "the same payment method",
    "kyc": "matching identity documents",
    "manual": "a relation declared by staff",
}
MAX_DETAIL = 200


@dataclass(frozen=True)
class AccountLink:
    account_a: int
    account_b: int
    server_a: int
    login_a: int
    server_b: int
    login_b: int
    kind: str
    detail: str
    created_at: datetime


_COLUMNS = """l.account_a, l.account_b, l.kind, l.detail, l.created_at, a.server_id AS server_a, a.login AS login_a,
    b.server_id AS server_b, b.login AS login_b"""
_FROM = ("risk_account_links l JOIN trading_accounts a ON a.id = l.account_a "
         "JOIN trading_accounts b ON b.id = l.account_b")
_SELECT = f"SELECT {_COLUMNS} FROM {_FROM}"  # noqa: S608 - constants


def _link(r: Any) -> AccountLink:
    return AccountLink(int(r.account_a), int(r.account_b), int(r.server_a), int(r.login_a), int(r.server_b),
                       int(r.login_b), r.kind, r.detail, r.created_at)  # fmt: skip


def _pair(kind: str, account_a: int, account_b: int) -> tuple[int, int]:
    if kind not in KINDS:
        raise AccountLinkInvalid(f"kind must be one of {', '.join(sorted(KINDS))}", field="kind")
    if account_a == account_b:
        raise AccountLinkInvalid("an account cannot be linked to itself", field="accountB")
    return min(account_a, account_b), max(account_a, account_b)


async def _get(session: AsyncSession, a: int, b: int, kind: str) -> AccountLink | None:
    row = (await session.execute(text(_SELECT + " WHERE l.account_a = :a AND l.account_b = :b AND l.kind = :k"),
                                 {"a": a, "b": b, "k": kind})).first()  # fmt: skip
    return None if row is None else _link(row)


async def link(
    session: AsyncSession, actor: Actor, account_a: int, account_b: int, kind: str, detail: str = ""
) -> AccountLink:
    a, b = _pair(kind, account_a, account_b)
    detail = " ".join(detail.split())
    if len(detail) > MAX_DETAIL:
        raise AccountLinkInvalid(f"detail is at most {MAX_DETAIL} characters", field="detail")
    found = set(await session.scalars(text("SELECT id FROM trading_accounts WHERE id IN (:a, :b) FOR SHARE"),
                                      {"a": a, "b": b}))  # fmt: skip
    for account, field in ((account_a, "accountA"), (account_b, "accountB")):
        if account not in found:
            raise RiskAccountNotFound("not found", field=field)
    inserted = await session.scalar(text(
        "INSERT INTO risk_account_links (account_a, account_b, kind, detail) VALUES (:a, :b, :k, :d) "
        "ON CONFLICT DO NOTHING RETURNING 1"), {"a": a, "b": b, "k": kind, "d": detail})  # fmt: skip
    if inserted:
        await record(session, actor, action="risk.accounts_linked", entity_type="risk_account_link",
                     entity_id=f"{a}:{b}:{kind}", after={"account_a": a, "account_b": b, "kind": kind,
                                                         "detail": detail})  # fmt: skip
    stored = await _get(session, a, b, kind)
    assert stored is not None
    return stored


async def unlink(session: AsyncSession, actor: Actor, account_a: int, account_b: int, kind: str) -> AccountLink:
    a, b = _pair(kind, account_a, account_b)
    gone = await _get(session, a, b, kind)
    if gone is None:
        raise AccountLinkNotFound("not found", field="accountB")
    await session.execute(text("DELETE FROM risk_account_links WHERE account_a = :a AND account_b = :b AND kind = :k"),
                          {"a": a, "b": b, "k": kind})  # fmt: skip
    await record(session, actor, action="risk.accounts_unlinked", entity_type="risk_account_link",
                 entity_id=f"{a}:{b}:{kind}", before={"account_a": a, "account_b": b, "kind": kind,
                                                      "detail": gone.detail}, after=None)  # fmt: skip
    return gone


LINK_KEY = ("l.created_at", "l.account_a", "l.account_b", "l.kind")
decode_link_cursor = cursor_decoder(datetime, int, int, str)


def link_key(link: AccountLink) -> tuple[datetime, int, int, str]:
    return link.created_at, link.account_a, link.account_b, link.kind


async def list_links(session: AsyncSession, page: PageRequest, account_id: int | None = None) -> Page[AccountLink]:
    """Every link (or one account's), newest first (keyset on the creation time and the primary key)."""
    where = ["(l.account_a = :x OR l.account_b = :x)"] if account_id is not None else []
    return await sql_page(session, page, columns=_COLUMNS, source=_FROM, where=where, params={"x": account_id},
                          key=LINK_KEY, descending=True, convert=_link)
