"""Four eyes means two people (DESIGN.md rule 17).

- Independence: the second approver is neither the initiator (each flow keeps its own self-approval
  error) nor related to them: two staff members are related when either created the other, granted
  the other a role, or approved such a change for the other (`staff_provenance`, append-only, read
  by `provenance_of`). Related in either direction counts: a creature approving its creator's
  request, or the creator approving its creature's, is one will, not two.
- Cumulative thresholds: what one person moves alone (an adjustment posted without a second
  approver, a withdrawal released by one approver) is logged in `four_eyes_solo`; a request needs a
  second approver when it plus the solo amounts of the same flow and currency within the rolling
  window (`Settings.four_eyes_window_s`, FOREXCRM_FOUR_EYES_WINDOW_S) reaches the threshold, per
  initiator and per client. Advisory locks per initiator and per client make the check and the log
  one step, so concurrent small requests cannot all slip under it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.errors import PermissionDenied
from domain.shared.settings import get_settings


class RelatedApprover(PermissionDenied):
    code = "FOUR_EYES_RELATED_APPROVER"


class SelfApproval(PermissionDenied):
    code = "SELF_APPROVAL_FORBIDDEN"


@dataclass(frozen=True)
class ProvenanceEntry:
    subject_id: int
    actor_id: int
    kind: str  # created | granted | approved
    role: str | None
    request_id: int | None
    created_at: datetime


async def record_provenance(session: AsyncSession, *, subject_id: int, actor_id: int | None, kind: str,
                            role: str | None = None, request_id: int | None = None) -> None:
    """Note that `actor_id` created / granted / approved a change for `subject_id` (system actors and
    changes to oneself leave no relation to record)."""
    if actor_id is None or actor_id == subject_id:
        return
    await session.execute(text(
        "INSERT INTO staff_provenance (subject_id, actor_id, kind, role, request_id) VALUES (:s, :a, :k, :r, :q)"),
        {"s": subject_id, "a": actor_id, "k": kind, "r": role, "q": request_id})


async def related(session: AsyncSession, a: int, b: int) -> bool:
    return bool(await session.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM staff_provenance WHERE (subject_id = :a AND actor_id = :b) "
        "OR (subject_id = :b AND actor_id = :a))"), {"a": a, "b": b}))


async def require_independent(session: AsyncSession, approver: int, others: Iterable[int | None], *,
                              field: str = "id") -> None:
    """Refuse an approver related to the initiator or to an earlier approver of the same request."""
    for other in {o for o in others if o is not None and o != approver}:
        if await related(session, approver, other):
            raise RelatedApprover("you created or granted roles to (or were created or granted roles by) "
                                  "someone already behind this request; a different staff member must approve",
                                  field=field)


async def provenance_of(session: AsyncSession, user_ids: list[int]) -> dict[int, list[ProvenanceEntry]]:
    """Who created each user, granted them roles or approved it, oldest first."""
    rows = (await session.execute(text(
        "SELECT subject_id, actor_id, kind, role, request_id, created_at FROM staff_provenance "
        "WHERE subject_id = ANY(:ids) ORDER BY id"), {"ids": user_ids})).all()
    found: dict[int, list[ProvenanceEntry]] = {u: [] for u in user_ids}
    for r in rows:
        found[r.subject_id].append(ProvenanceEntry(r.subject_id, r.actor_id, r.kind, r.role, r.request_id,
                                                   r.created_at))
    return found


# --- cumulative thresholds ---------------------------------------------------------------------------------


def window_s() -> int:
    return get_settings().four_eyes_window_s


async def _lock(session: AsyncSession, flow: str, dimension: str, value: int) -> None:
    # Initiator before client, always: one fixed order, so two requests never wait on each other in a cycle.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                          {"k": f"four-eyes:{flow}:{dimension}:{value}"})


@dataclass(frozen=True)
class SoloTotals:
    by_initiator: Decimal
    by_client: Decimal


async def lock_parties(session: AsyncSession, *, flow: str, initiator: int, client: int | None) -> None:
    """Serialise this flow's requests per initiator and per client until commit (re-entrant: taking
    it again in the same transaction is free). Take it before deciding anything a concurrent
    request could change, such as whether an idempotency key was already used."""
    await _lock(session, flow, "initiator", initiator)
    if client is not None:
        await _lock(session, flow, "client", client)


async def solo_totals(session: AsyncSession, *, flow: str, initiator: int, client: int | None,
                      currency: str) -> SoloTotals:
    """Locks the initiator and the client for this flow (until commit), then sums what moved alone
    within the window."""
    await lock_parties(session, flow=flow, initiator=initiator, client=client)
    row = (await session.execute(text(
        "SELECT coalesce(sum(amount) FILTER (WHERE initiator_id = :i), 0) AS by_i, "
        "coalesce(sum(amount) FILTER (WHERE client_user_id = :c), 0) AS by_c FROM four_eyes_solo "
        "WHERE flow = :f AND currency = :cur AND created_at > now() - make_interval(secs => :w) "
        "AND (initiator_id = :i OR client_user_id = :c)"),
        {"f": flow, "i": initiator, "c": client, "cur": currency, "w": window_s()})).one()
    return SoloTotals(Decimal(row.by_i), Decimal(row.by_c))


async def needs_second_approver(session: AsyncSession, *, flow: str, initiator: int, client: int | None,
                                currency: str, amount: Decimal, threshold: Decimal, inclusive: bool) -> bool:
    """Whether this amount, added to what the initiator or the client moved alone within the window,
    reaches the threshold (`inclusive`: at it counts; else only above it)."""
    totals = await solo_totals(session, flow=flow, initiator=initiator, client=client, currency=currency)
    worst = max(totals.by_initiator, totals.by_client) + abs(amount)
    return worst >= threshold if inclusive else worst > threshold


async def record_solo(session: AsyncSession, *, flow: str, ref: str, initiator: int, client: int | None,
                      currency: str, amount: Decimal) -> None:
    """Log an amount that moved on one person's say (once per flow and reference)."""
    await session.execute(text(
        "INSERT INTO four_eyes_solo (flow, ref, initiator_id, client_user_id, currency, amount) "
        "VALUES (:f, :r, :i, :c, :cur, :a) ON CONFLICT (flow, ref) DO NOTHING"),
        {"f": flow, "r": ref, "i": initiator, "c": client, "cur": currency, "a": abs(amount)})
