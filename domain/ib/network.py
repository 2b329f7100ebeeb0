"""The IB network: applications, approval and effective-dated moves over a closure table.

`ib_closure` holds one row per (ancestor, descendant) pair, self rows at depth 0 included, valid
during [valid_from, valid_to). A move of an IB at time t closes, at t, the rows linking its subtree
to its old ancestors and opens rows linking it to the new ones; rows inside the subtree are kept.
So "the tree as of t" is one indexed range predicate, for commissions and for queries alike.

Every tree change takes one transaction-scoped advisory lock first: tree changes are rare and a
single lock makes the cycle check and the closure rewrite atomic against concurrent moves.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib import RELATIONSHIP_CATEGORY
from domain.ib.errors import (
    ChangeBeforeLastChange,
    IbAlreadyApplied,
    IbNotApproved,
    IbNotFound,
    IbNotPending,
    RetroactiveNotAllowed,
    TreeCycle,
)
from domain.shared.actor import Actor
from domain.shared.db import utcnow

TREE_LOCK = (0x1B, 1)  # (namespace, key) of the advisory lock serialising tree changes
# A change dated this far in the past still counts as "now" (clock skew between caller and DB).
PAST_TOLERANCE = timedelta(minutes=5)

_AS_OF = "c.valid_from <= :at AND (c.valid_to IS NULL OR c.valid_to > :at)"


async def lock_tree(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:ns, :k)"), {"ns": TREE_LOCK[0], "k": TREE_LOCK[1]})


async def _status(session: AsyncSession, ib_id: int, *, for_update: bool = False) -> str | None:
    sql = "SELECT status FROM ib_partners WHERE user_id = :id" + (" FOR UPDATE" if for_update else "")
    status = await session.scalar(text(sql), {"id": ib_id})
    return str(status) if status is not None else None


async def require_approved(session: AsyncSession, ib_id: int, *, field: str = "ibId") -> None:
    if await _status(session, ib_id) != "approved":
        raise IbNotFound("no such IB", field=field)


async def apply(session: AsyncSession, actor: Actor, user_id: int, *, parent_id: int | None = None,
                note: str = "") -> None:
    """A client (or a user who does not trade) applies to become an IB, optionally under a master IB."""
    exists = await session.scalar(text("SELECT 1 FROM users WHERE id = :id"), {"id": user_id})
    if exists is None:
        raise IbNotFound("no such user", field="userId")
    if parent_id is not None:
        await require_approved(session, parent_id, field="parentId")
    inserted = await session.scalar(text(
        "INSERT INTO ib_partners (user_id, requested_parent_id, application_note) VALUES (:u, :p, :n) "
        "ON CONFLICT DO NOTHING RETURNING user_id"), {"u": user_id, "p": parent_id, "n": note[:2000]})
    if inserted is None:
        raise IbAlreadyApplied("this user has already applied", field="userId")
    await record(session, actor, action="ib.applied", entity_type="ib_partner", entity_id=user_id,
                 after={"status": "pending", "requested_parent_id": parent_id}, category=RELATIONSHIP_CATEGORY)


async def approve(session: AsyncSession, actor: Actor, ib_id: int, *, parent_id: int | None = None,
                  use_requested_parent: bool = True, at: datetime | None = None) -> datetime:
    """Approve a pending application; the IB joins the tree (under its parent) from `at`."""
    await lock_tree(session)
    row = (await session.execute(text(
        "SELECT status, requested_parent_id FROM ib_partners WHERE user_id = :id FOR UPDATE"), {"id": ib_id})).first()
    if row is None:
        raise IbNotFound("no such IB application", field="ibId")
    if row.status != "pending":
        raise IbNotPending("this application has already been decided", field="ibId")
    parent = parent_id if parent_id is not None else (row.requested_parent_id if use_requested_parent else None)
    if parent is not None:
        await require_approved(session, parent, field="parentId")
    at = at or utcnow()
    await session.execute(text(
        "UPDATE ib_partners SET status = 'approved', decided_at = :at, decided_by = :by WHERE user_id = :id"),
        {"at": at, "by": actor.user_id, "id": ib_id})
    await session.execute(text("UPDATE users SET is_ib = true, updated_at = now() WHERE id = :id"), {"id": ib_id})
    await session.execute(text(
        "INSERT INTO ib_tree_edges (ib_id, parent_id, valid_from, reason) VALUES (:id, :p, :at, 'approved')"),
        {"id": ib_id, "p": parent, "at": at})
    await session.execute(text(
        "INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) VALUES (:id, :id, 0, :at)"),
        {"id": ib_id, "at": at})
    if parent is not None:
        await session.execute(text(
            "INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) "
            f"SELECT c.ancestor_id, :id, c.depth + 1, :at FROM ib_closure c WHERE c.descendant_id = :p AND {_AS_OF}"),
            {"id": ib_id, "p": parent, "at": at})
    await record(session, actor, action="ib.approved", entity_type="ib_partner", entity_id=ib_id,
                 before={"status": "pending"}, after={"status": "approved", "parent_id": parent},
                 category=RELATIONSHIP_CATEGORY)
    return at


async def reject(session: AsyncSession, actor: Actor, ib_id: int, *, reason: str) -> None:
    status = await _status(session, ib_id, for_update=True)
    if status is None:
        raise IbNotFound("no such IB application", field="ibId")
    if status != "pending":
        raise IbNotPending("this application has already been decided", field="ibId")
    await session.execute(text(
        "UPDATE ib_partners SET status = 'rejected', decided_at = now(), decided_by = :by WHERE user_id = :id"),
        {"by": actor.user_id, "id": ib_id})
    await record(session, actor, action="ib.rejected", entity_type="ib_partner", entity_id=ib_id,
                 before={"status": "pending"}, after={"status": "rejected"}, reason=reason,
                 category=RELATIONSHIP_CATEGORY)


async def move(session: AsyncSession, actor: Actor, ib_id: int, new_parent_id: int | None, *,
               effective_from: datetime, reason: str, allow_retroactive: bool = False) -> None:
    """Move an IB with its downline under another parent (or to the top) from `effective_from`.

    Commissions on deals before that instant keep following the old tree, later ones the new tree.
    Refused: a cycle (the new parent is the IB or in its subtree), a date before the last change
    touching the subtree, or a past date without `allow_retroactive`.
    """
    await lock_tree(session)
    at = effective_from
    if at < utcnow() - PAST_TOLERANCE and not allow_retroactive:
        raise RetroactiveNotAllowed("a move dated in the past needs allowRetroactive", field="effectiveFrom")
    if await _status(session, ib_id) != "approved":
        raise IbNotFound("no such IB", field="ibId")
    if new_parent_id is not None:
        if await _status(session, new_parent_id) != "approved":
            raise IbNotApproved("the new parent is not an approved IB", field="parentId")
        inside = await session.scalar(text(
            f"SELECT 1 FROM ib_closure c WHERE c.ancestor_id = :ib AND c.descendant_id = :p AND {_AS_OF}"),
            {"ib": ib_id, "p": new_parent_id, "at": at})
        if inside is not None:
            raise TreeCycle("an IB cannot be placed under itself or its own downline", field="parentId")
    subtree = f"SELECT c.descendant_id, c.depth FROM ib_closure c WHERE c.ancestor_id = :ib AND {_AS_OF}"
    last = await session.scalar(text(
        f"SELECT max(x.valid_from) FROM ib_closure x WHERE x.descendant_id IN (SELECT descendant_id FROM ({subtree}) s)"
    ), {"ib": ib_id, "at": at})
    last_edge = await session.scalar(text(
        "SELECT max(valid_from) FROM ib_tree_edges WHERE ib_id = :ib"), {"ib": ib_id})
    if (last is not None and last >= at) or (last_edge is not None and last_edge >= at):
        raise ChangeBeforeLastChange("a tree change must be dated after the last change of this subtree",
                                     field="effectiveFrom")
    old_parent = await session.scalar(text(
        "SELECT parent_id FROM ib_tree_edges WHERE ib_id = :ib AND valid_to IS NULL"), {"ib": ib_id})
    if old_parent == new_parent_id:
        return
    params: dict[str, Any] = {"ib": ib_id, "p": new_parent_id, "at": at}
    # Close the rows linking the subtree to ancestors outside it...
    await session.execute(text(
        f"""UPDATE ib_closure x SET valid_to = :at
        WHERE x.descendant_id IN (SELECT descendant_id FROM ({subtree}) s)
          AND x.ancestor_id NOT IN (SELECT descendant_id FROM ({subtree}) s)
          AND x.valid_from <= :at AND (x.valid_to IS NULL OR x.valid_to > :at)"""), params)
    # ...and open rows to the new parent's ancestors (self row included).
    if new_parent_id is not None:
        await session.execute(text(
            f"""INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from)
            SELECT a.ancestor_id, s.descendant_id, a.depth + s.depth + 1, :at
            FROM ({subtree}) s,
                 (SELECT c.ancestor_id, c.depth FROM ib_closure c WHERE c.descendant_id = :p AND {_AS_OF}) a"""),
            params)
    await session.execute(text(
        "UPDATE ib_tree_edges SET valid_to = :at WHERE ib_id = :ib AND valid_to IS NULL"), params)
    await session.execute(text(
        "INSERT INTO ib_tree_edges (ib_id, parent_id, valid_from, reason) VALUES (:ib, :p, :at, :r)"),
        {**params, "r": reason[:2000]})
    await record(session, actor, action="ib.moved", entity_type="ib_partner", entity_id=ib_id,
                 before={"parent_id": old_parent}, after={"parent_id": new_parent_id, "effective_from": at.isoformat()},
                 reason=reason, category=RELATIONSHIP_CATEGORY)


@dataclass(frozen=True)
class TreeNode:
    ib_id: int
    depth: int


async def ancestors(session: AsyncSession, ib_id: int, *, at: datetime | None = None) -> list[TreeNode]:
    """The IB's upline as of `at` (now by default), nearest first, excluding the IB itself."""
    rows = (await session.execute(text(
        f"SELECT c.ancestor_id, c.depth FROM ib_closure c WHERE c.descendant_id = :ib AND c.depth > 0 AND {_AS_OF} "
        "ORDER BY c.depth"), {"ib": ib_id, "at": at or utcnow()})).all()
    return [TreeNode(int(r.ancestor_id), int(r.depth)) for r in rows]


async def descendants(session: AsyncSession, ib_id: int, *, max_depth: int | None = None,
                      at: datetime | None = None) -> list[TreeNode]:
    """The IB's downline to `max_depth` as of `at`, shallowest first, excluding the IB itself."""
    rows = (await session.execute(text(
        f"SELECT c.descendant_id, c.depth FROM ib_closure c WHERE c.ancestor_id = :ib AND c.depth > 0 "
        f"AND c.depth <= :d AND {_AS_OF} ORDER BY c.depth, c.descendant_id"),
        {"ib": ib_id, "d": max_depth if max_depth is not None else 1_000_000, "at": at or utcnow()})).all()
    return [TreeNode(int(r.descendant_id), int(r.depth)) for r in rows]


@dataclass(frozen=True)
class LevelSummary:
    depth: int
    ibs: int
    clients: int


# Current tree only: the partial index on valid_to IS NULL makes this an index range scan.
_SUBTREE_SUMMARY = text(
    """
    SELECT c.depth, count(*) AS ibs, coalesce(sum(n.clients), 0) AS clients
    FROM ib_closure c
    LEFT JOIN LATERAL (SELECT count(*) AS clients FROM ib_client_attributions a
                       WHERE a.ib_id = c.descendant_id AND a.valid_to IS NULL) n ON true
    WHERE c.ancestor_id = :ib AND c.valid_to IS NULL AND c.depth <= :d
    GROUP BY c.depth ORDER BY c.depth
    """
)


async def subtree_summary(session: AsyncSession, ib_id: int, *, max_depth: int | None = None) -> list[LevelSummary]:
    """Per depth of the current subtree (0 = the IB itself): IB count and directly attributed clients."""
    rows = (await session.execute(_SUBTREE_SUMMARY,
                                  {"ib": ib_id, "d": max_depth if max_depth is not None else 1_000_000})).all()
    return [LevelSummary(int(r.depth), int(r.ibs), int(r.clients)) for r in rows]


async def is_in_subtree(session: AsyncSession, root_id: int, ib_id: int, *, max_depth: int | None = None) -> bool:
    """Ownership check for partner access: is `ib_id` in `root_id`'s current subtree (within depth)?"""
    found = await session.scalar(text(
        "SELECT 1 FROM ib_closure WHERE ancestor_id = :r AND descendant_id = :i AND valid_to IS NULL AND depth <= :d"),
        {"r": root_id, "i": ib_id, "d": max_depth if max_depth is not None else 1_000_000})
    return found is not None
