"""A/B-book segmentation: rules over metrics and flags, staff overrides, sync to the dealing side.

Every assignment is a new row (effective time, source, evidence); the latest row per account is in
force. An override sticks until a later override; rules never replace it. The target group is the
one `risk_group_books` maps to the book on the account's server. Sync moves the account through
the platform port (`update_account(group=...)`, idempotent: setting the same group twice is a no-op
on the server), then records the move on our side; failures are retried up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ledger.transfers import registered_platform
from domain.risk.errors import (
    GroupBookInvalid,
    GroupBookNotFound,
    GroupMappingMissing,
    RiskAccountNotFound,
    RiskServerNotFound,
    SegmentRuleInvalid,
)
from domain.risk.metrics import account_metrics
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction

BOOKS = ("A", "B", "HYBRID")
MAX_ATTEMPTS = 5
# Condition keys: each compares one figure of the account; all must hold.
Figures = dict[str, Any]
CONDITIONS: dict[str, Callable[[Figures, Any], bool]] = {
    "min_closed_trades": lambda m, v: m["closed_trades"] >= v,
    "min_win_rate": lambda m, v: (m["win_rate"] or 0) >= v,
    "min_profit_factor": lambda m, v: (m["profit_factor"] or 0) >= v,
    "min_net_deposits": lambda m, v: m["net_deposits"] >= v,
    "max_net_deposits": lambda m, v: m["net_deposits"] <= v,
    "min_risk_score": lambda m, v: m["risk_score"] >= v,
    "max_risk_score": lambda m, v: m["risk_score"] <= v,
    "any_flag": lambda m, v: bool(set(m["flags"]) & set(v)),
}


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    priority: int
    condition: dict[str, Any]
    book: str
    a_book_pct: Decimal


@dataclass(frozen=True)
class RuleCheck:
    rule: Rule
    matched: int
    population: int
    warning: str | None


@dataclass(frozen=True)
class Assignment:
    id: int
    account_id: int
    book: str
    a_book_pct: Decimal
    source: str
    reason: str
    target_group: str | None
    sync_status: str
    sync_error: str | None


def _check_book(book: str, a_book_pct: Decimal) -> Decimal:
    if book not in BOOKS:
        raise SegmentRuleInvalid(f"book must be one of {', '.join(BOOKS)}", field="book")
    pct = {"A": Decimal(100), "B": Decimal(0)}.get(book, a_book_pct)
    if not pct.is_finite() or not Decimal(0) <= pct <= Decimal(100):
        raise SegmentRuleInvalid("aBookPct must be between 0 and 100", field="aBookPct")
    return pct


async def _figures(session: AsyncSession, account_id: int) -> dict[str, Any]:
    m = await account_metrics(session, account_id)
    flags = list(await session.scalars(text(
        "SELECT DISTINCT detector FROM risk_flags WHERE account_id = :a AND status <> 'dismissed'"), {"a": account_id}))
    if m is None:
        return {"closed_trades": 0, "win_rate": None, "profit_factor": None, "net_deposits": Decimal(0),
                "risk_score": 0, "flags": flags}  # fmt: skip
    return {"closed_trades": m.closed_trades, "win_rate": m.win_rate, "profit_factor": m.profit_factor,
            "net_deposits": m.net_deposits, "risk_score": m.risk_score, "flags": flags}  # fmt: skip


def matches(rule: Rule, figures: dict[str, Any]) -> bool:
    return all(CONDITIONS[k](figures, v) for k, v in rule.condition.items())


async def rules_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Rule]:
    """Rules in force (enabled, as `rules`) by id."""
    rows = await session.execute(text(
        "SELECT id, name, priority, condition, book, a_book_pct FROM risk_segment_rules WHERE enabled "
        "AND id = ANY(:ids)"), {"ids": ids})  # fmt: skip
    return {int(r.id): Rule(int(r.id), r.name, int(r.priority), dict(r.condition), r.book, r.a_book_pct) for r in rows}


async def rules(session: AsyncSession) -> list[Rule]:
    rows = await session.execute(text(
        "SELECT id, name, priority, condition, book, a_book_pct FROM risk_segment_rules WHERE enabled "
        "ORDER BY priority, id"))  # fmt: skip
    return [Rule(int(r.id), r.name, int(r.priority), dict(r.condition), r.book, r.a_book_pct) for r in rows]


async def add_rule(
    session: AsyncSession, actor: Actor, name: str, priority: int, condition: dict[str, Any], book: str,
    a_book_pct: Decimal,
) -> RuleCheck:  # fmt: skip
    """Store a rule; a condition that matches every or no current account is stored but reported."""
    pct = _check_book(book, a_book_pct)
    unknown = sorted(set(condition) - set(CONDITIONS))
    if unknown:
        raise SegmentRuleInvalid(f"unknown conditions: {', '.join(unknown)}", field="condition")
    if not condition:
        raise SegmentRuleInvalid("a rule needs at least one condition (it would match everything)", field="condition")
    row = (await session.execute(text(
        "INSERT INTO risk_segment_rules (name, priority, condition, book, a_book_pct) "
        "VALUES (:n, :p, CAST(:c AS jsonb), :b, :a) ON CONFLICT (name) DO NOTHING RETURNING id"
    ), {"n": name, "p": priority, "c": json.dumps(condition), "b": book, "a": pct})).first()  # fmt: skip
    if row is None:
        raise SegmentRuleInvalid("a rule with this name exists", field="name")
    rule = Rule(int(row.id), name, priority, condition, book, pct)
    accounts = list(await session.scalars(text("SELECT account_id FROM risk_account_metrics")))
    matched = sum([matches(rule, await _figures(session, a)) for a in accounts])
    warning = None
    if accounts and matched == len(accounts):
        warning = f"the rule matches every one of the {len(accounts)} accounts"
    elif accounts and matched == 0:
        warning = "the rule matches no account"
    await record(session, actor, action="risk.segment_rule_added", entity_type="risk_segment_rule",
                 entity_id=rule.id, after={"name": name, "condition": condition, "book": book,
                                           "a_book_pct": str(pct), "matched": matched, "warning": warning})
    return RuleCheck(rule, matched, len(accounts), warning)


async def current(session: AsyncSession, account_id: int) -> Assignment | None:
    r = (await session.execute(text(
        "SELECT * FROM risk_assignments WHERE account_id = :a ORDER BY effective_at DESC, id DESC LIMIT 1"
    ), {"a": account_id})).first()  # fmt: skip
    if r is None:
        return None
    return Assignment(int(r.id), r.account_id, r.book, r.a_book_pct, r.source, r.reason, r.target_group,
                      r.sync_status, r.sync_error)  # fmt: skip


async def _target_group(session: AsyncSession, account_id: int, book: str, pct: Decimal) -> str | None:
    group: str | None = await session.scalar(text(
        "SELECT g.grp FROM risk_group_books g JOIN trading_accounts a ON a.server_id = g.server_id "
        "WHERE a.id = :a AND g.book = :b ORDER BY abs(g.a_book_pct - :p), g.grp LIMIT 1"
    ), {"a": account_id, "b": book, "p": pct})  # fmt: skip
    return group


async def _assign(
    session: AsyncSession, actor: Actor, account_id: int, book: str, pct: Decimal, source: str,
    rule_id: int | None, reason: str, evidence: dict[str, Any],
) -> Assignment:  # fmt: skip
    group = await _target_group(session, account_id, book, pct)
    status, error = ("pending", None) if group else ("failed", f"no group routes book {book} on this server")
    row = (await session.execute(text(
        "INSERT INTO risk_assignments (account_id, book, a_book_pct, source, rule_id, reason, evidence, "
        "target_group, sync_status, sync_error) VALUES (:a, :b, :p, :src, :r, :why, CAST(:ev AS jsonb), :g, :st, :err) "
        "RETURNING id"
    ), {"a": account_id, "b": book, "p": pct, "src": source, "r": rule_id, "why": reason,
        "ev": json.dumps(evidence, default=str), "g": group, "st": status, "err": error})).one()  # fmt: skip
    await record(session, actor, action="risk.segment_assigned", entity_type="trading_account", entity_id=account_id,
                 after={"book": book, "a_book_pct": str(pct), "source": source, "rule_id": rule_id,
                        "target_group": group, "evidence": evidence}, reason=reason or None)  # fmt: skip
    return Assignment(int(row.id), account_id, book, pct, source, reason, group, status, error)


async def override(
    session: AsyncSession, actor: Actor, account_id: int, book: str, a_book_pct: Decimal, reason: str
) -> Assignment:
    pct = _check_book(book, a_book_pct)
    if not reason.strip():
        raise SegmentRuleInvalid("an override needs a reason", field="reason")
    exists = await session.scalar(text("SELECT 1 FROM trading_accounts WHERE id = :a FOR UPDATE"), {"a": account_id})
    if not exists:
        raise RiskAccountNotFound("not found", field="accountId")
    assignment = await _assign(session, actor, account_id, book, pct, "override", None, reason.strip(),
                               await _figures(session, account_id))
    if assignment.target_group is None:
        raise GroupMappingMissing(assignment.sync_error or "no group mapping", field="book")
    return assignment


async def classify(session: AsyncSession, actor: Actor, account_ids: list[int]) -> list[Assignment]:
    """Apply the rules to these accounts; returns the assignments that changed. Overrides stick."""
    active = await rules(session)
    changed: list[Assignment] = []
    for account_id in account_ids:
        now = await current(session, account_id)
        if now is not None and now.source == "override":
            continue
        figures = await _figures(session, account_id)
        rule = next((r for r in active if matches(r, figures)), None)
        if rule is None or (now is not None and (now.book, now.a_book_pct) == (rule.book, rule.a_book_pct)):
            continue
        changed.append(await _assign(session, actor, account_id, rule.book, rule.a_book_pct, "rule", rule.id,
                                     f"rule {rule.name}", figures))
    return changed


async def sync_pending(factory: SessionFactory, actor: Actor) -> int:
    """Push pending assignments to their trading servers; returns how many reached the server."""
    async with factory() as session:
        rows = (await session.execute(text(
            "SELECT s.id, s.target_group, a.login, a.server_id FROM risk_assignments s "
            "JOIN trading_accounts a ON a.id = s.account_id WHERE s.sync_status = 'pending' AND s.id = ("
            "SELECT max(id) FROM risk_assignments x WHERE x.account_id = s.account_id) ORDER BY s.id LIMIT 100"
        ))).all()  # fmt: skip
    done = 0
    for r in rows:
        try:
            await registered_platform(str(r.server_id)).update_account(int(r.login), group=r.target_group)
        except Exception as exc:
            await in_transaction(factory, partial(_failed, assignment_id=int(r.id), error=str(exc)[:500]))
            continue
        await in_transaction(factory, partial(_synced, actor=actor, r=r))
        done += 1
    return done


async def _failed(session: AsyncSession, assignment_id: int, error: str) -> None:
    await session.execute(text(
        "UPDATE risk_assignments SET sync_attempts = sync_attempts + 1, sync_error = :e, sync_status = "
        "CASE WHEN sync_attempts + 1 >= :n THEN 'failed' ELSE 'pending' END WHERE id = :i"
    ), {"i": assignment_id, "e": error, "n": MAX_ATTEMPTS})  # fmt: skip


async def _synced(session: AsyncSession, actor: Actor, r: Any) -> None:
    before = await session.scalar(text(
        'SELECT "group" FROM trading_accounts WHERE server_id = :s AND login = :l FOR UPDATE'),
        {"s": r.server_id, "l": r.login})  # fmt: skip
    # Our view follows the server; the exposure trigger re-keys the account's open positions.
    await session.execute(text(
        'UPDATE trading_accounts SET "group" = :g WHERE server_id = :s AND login = :l'
    ), {"g": r.target_group, "s": r.server_id, "l": r.login})  # fmt: skip
    await session.execute(text(
        "UPDATE risk_assignments SET sync_status = 'synced', sync_attempts = sync_attempts + 1, sync_error = NULL "
        "WHERE id = :i"), {"i": r.id})  # fmt: skip
    await record(session, actor, action="risk.segment_synced", entity_type="trading_account",
                 entity_id=f"{r.server_id}:{r.login}", before={"group": before}, after={"group": r.target_group})


@dataclass(frozen=True)
class Drift:
    account_id: int
    login: int
    expected_group: str | None  # from the assignment in force
    crm_group: str
    server_group: str | None  # None when the server could not be read


async def drift_report(factory: SessionFactory, server_id: int) -> list[Drift]:
    """Accounts whose assignment, CRM group and server group disagree."""
    async with factory() as session:
        rows = (await session.execute(text(
            'SELECT a.id, a.login, a."group" AS crm, s.target_group FROM trading_accounts a '
            "JOIN LATERAL (SELECT target_group FROM risk_assignments x WHERE x.account_id = a.id "
            "ORDER BY effective_at DESC, id DESC LIMIT 1) s ON true WHERE a.server_id = :s ORDER BY a.login"
        ), {"s": server_id})).all()  # fmt: skip
    platform = registered_platform(str(server_id))
    out: list[Drift] = []
    for r in rows:
        try:
            remote: str | None = (await platform.get_account(int(r.login))).group
        except Exception:
            remote = None
        if not (r.target_group == r.crm == remote):
            out.append(Drift(int(r.id), int(r.login), r.target_group, r.crm, remote))
    return out


# --- group books: which trading-server group routes which book ------------------------------------


@dataclass(frozen=True)
class GroupBook:
    server_id: int
    group: str
    book: str
    a_book_pct: Decimal


def _group_book(r: Any) -> GroupBook:
    return GroupBook(int(r.server_id), r.grp, r.book, r.a_book_pct)


async def list_group_books(session: AsyncSession, server_id: int | None = None) -> list[GroupBook]:
    rows = await session.execute(text(
        "SELECT server_id, grp, book, a_book_pct FROM risk_group_books WHERE CAST(:s AS bigint) IS NULL "
        "OR server_id = :s ORDER BY server_id, grp"), {"s": server_id})  # fmt: skip
    return [_group_book(r) for r in rows]


def _check_group(group: str) -> str:
    group = group.strip()
    if not group or len(group) > 64:
        raise GroupBookInvalid("group must be 1-64 characters", field="group")
    return group


async def set_group_book(
    session: AsyncSession, actor: Actor, server_id: int, group: str, book: str, a_book_pct: Decimal | None
) -> GroupBook:
    """Route a server's group to a book: A (100 % to the LP), B (0 %) or HYBRID (0 < share < 100)."""
    group = _check_group(group)
    if book not in BOOKS:
        raise GroupBookInvalid(f"book must be one of {', '.join(BOOKS)}", field="book")
    if book == "HYBRID":
        if a_book_pct is None or not a_book_pct.is_finite() or not Decimal(0) < a_book_pct < Decimal(100):
            raise GroupBookInvalid("a hybrid book needs aBookPercent strictly between 0 and 100",
                                   field="aBookPercent")
        if a_book_pct != a_book_pct.quantize(Decimal("0.01")):
            raise GroupBookInvalid("aBookPercent takes at most 2 decimal places", field="aBookPercent")
        pct = a_book_pct
    else:
        expected = Decimal(100) if book == "A" else Decimal(0)
        if a_book_pct is not None and a_book_pct != expected:
            raise GroupBookInvalid(f"book {book} is {expected} % A-booked; leave aBookPercent out",
                                   field="aBookPercent")
        pct = expected
    if not await session.scalar(text("SELECT 1 FROM trading_servers WHERE id = :s"), {"s": server_id}):
        raise RiskServerNotFound("not found", field="serverId")
    before = (await session.execute(text(
        "SELECT server_id, grp, book, a_book_pct FROM risk_group_books WHERE server_id = :s AND grp = :g FOR UPDATE"
    ), {"s": server_id, "g": group})).first()  # fmt: skip
    await session.execute(text(
        "INSERT INTO risk_group_books (server_id, grp, book, a_book_pct) VALUES (:s, :g, :b, :p) "
        "ON CONFLICT (server_id, grp) DO UPDATE SET book = excluded.book, a_book_pct = excluded.a_book_pct"
    ), {"s": server_id, "g": group, "b": book, "p": pct})  # fmt: skip
    await record(session, actor, action="risk.group_book_set", entity_type="risk_group_book",
                 entity_id=f"{server_id}:{group}",
                 before=None if before is None else {"book": before.book, "a_book_pct": str(before.a_book_pct)},
                 after={"server_id": server_id, "group": group, "book": book, "a_book_pct": str(pct)})
    return GroupBook(server_id, group, book, pct)


async def unset_group_book(session: AsyncSession, actor: Actor, server_id: int, group: str) -> GroupBook:
    """Remove a group's book: segmentation no longer routes to it, exposure reports it unmapped."""
    group = _check_group(group)
    row = (await session.execute(text(
        "DELETE FROM risk_group_books WHERE server_id = :s AND grp = :g RETURNING server_id, grp, book, a_book_pct"
    ), {"s": server_id, "g": group})).first()  # fmt: skip
    if row is None:
        raise GroupBookNotFound("not found", field="group")
    gone = _group_book(row)
    await record(session, actor, action="risk.group_book_unset", entity_type="risk_group_book",
                 entity_id=f"{server_id}:{group}", before={"book": gone.book, "a_book_pct": str(gone.a_book_pct)},
                 after=None)
    return gone
