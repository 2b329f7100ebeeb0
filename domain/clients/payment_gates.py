"""Which client statuses may deposit and withdraw, per jurisdiction (config.manage, audited).

A client's jurisdiction is their country of residence; a jurisdiction without a gate of its own,
and a client whose country is not known yet, follow the '*' gate, and without one the built-in
default: money moves once compliance has approved the client (approved, active, dormant). A user
with no client record moves no money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.config import country_code
from domain.clients.errors import InvalidConfiguration
from domain.clients.status import Status
from domain.payments.errors import DepositNotAllowedForStatus, WithdrawalNotAllowedForStatus
from domain.shared.actor import Actor

DEFAULT = "*"
DEFAULT_STATUSES: tuple[str, ...] = (Status.APPROVED.value, Status.ACTIVE.value, Status.DORMANT.value)
# Money never comes in from a client compliance turned away or who left.
NEVER_DEPOSIT = frozenset({Status.REJECTED.value, Status.CLOSED.value, Status.BLOCKED.value})


@dataclass(frozen=True)
class Gate:
    jurisdiction: str
    deposit_statuses: tuple[str, ...]
    withdrawal_statuses: tuple[str, ...]
    built_in: bool = False
    updated_at: datetime | None = None


BUILT_IN = Gate(DEFAULT, DEFAULT_STATUSES, DEFAULT_STATUSES, built_in=True)


def _statuses(values: list[str], field: str) -> tuple[str, ...]:
    known = {s.value for s in Status}
    out: list[str] = []
    for v in values:
        if v not in known:
            raise InvalidConfiguration(f"unknown client status {v!r}", field=field)
        if v not in out:
            out.append(v)
    order = [s.value for s in Status]
    return tuple(sorted(out, key=order.index))


async def set_gate(session: AsyncSession, actor: Actor, *, jurisdiction: str, deposit_statuses: list[str],
                   withdrawal_statuses: list[str]) -> Gate:
    code = DEFAULT if jurisdiction.strip() == DEFAULT else country_code(jurisdiction.strip(), "jurisdiction")
    deposits = _statuses(deposit_statuses, "depositStatuses")
    withdrawals = _statuses(withdrawal_statuses, "withdrawalStatuses")
    barred = sorted(NEVER_DEPOSIT.intersection(deposits))
    if barred:
        raise InvalidConfiguration(f"a {', '.join(barred)} client never deposits", field="depositStatuses")
    old = (await session.execute(text(
        "SELECT deposit_statuses, withdrawal_statuses FROM payment_status_gates WHERE jurisdiction = :j FOR UPDATE"),
        {"j": code})).first()
    row = (await session.execute(text(
        "INSERT INTO payment_status_gates (jurisdiction, deposit_statuses, withdrawal_statuses) VALUES (:j, :d, :w) "
        "ON CONFLICT (jurisdiction) DO UPDATE SET deposit_statuses = EXCLUDED.deposit_statuses, "
        "withdrawal_statuses = EXCLUDED.withdrawal_statuses, updated_at = now() RETURNING updated_at"),
        {"j": code, "d": list(deposits), "w": list(withdrawals)})).one()
    before = None if old is None else {"deposit_statuses": list(old.deposit_statuses),
                                       "withdrawal_statuses": list(old.withdrawal_statuses)}
    await record(session, actor, action="brokerage.payment_gate_set", entity_type="payment_status_gate",
                 entity_id=code, before=before,
                 after={"deposit_statuses": list(deposits), "withdrawal_statuses": list(withdrawals)},
                 category="general")
    return Gate(code, deposits, withdrawals, updated_at=row.updated_at)


async def gates(session: AsyncSession) -> list[Gate]:
    """Every gate set, the default first (the built-in one when no '*' gate is set)."""
    rows = (await session.execute(text(
        "SELECT jurisdiction, deposit_statuses, withdrawal_statuses, updated_at FROM payment_status_gates "
        "ORDER BY (jurisdiction <> '*'), jurisdiction"))).all()
    out = [Gate(r.jurisdiction, tuple(r.deposit_statuses), tuple(r.withdrawal_statuses), updated_at=r.updated_at)
           for r in rows]
    return out if out and out[0].jurisdiction == DEFAULT else [BUILT_IN, *out]


async def require_allowed(session: AsyncSession, user_id: int, direction: str) -> None:
    """Refuse (DEPOSIT_/WITHDRAWAL_NOT_ALLOWED_FOR_STATUS) a payment the client's status does not allow
    in their jurisdiction. One statement: the client, their jurisdiction's gate and the default."""
    row = (await session.execute(text(
        "SELECT c.status, coalesce(g.deposit_statuses, d.deposit_statuses) AS deposits, "
        "coalesce(g.withdrawal_statuses, d.withdrawal_statuses) AS withdrawals FROM clients c "
        "LEFT JOIN payment_status_gates g ON g.jurisdiction = c.country::text "
        "LEFT JOIN payment_status_gates d ON d.jurisdiction = '*' WHERE c.user_id = :u"), {"u": user_id})).first()
    error = DepositNotAllowedForStatus if direction == "deposit" else WithdrawalNotAllowedForStatus
    if row is None:
        raise error("only clients move money; register as a client first", field=None)
    allowed = row.deposits if direction == "deposit" else row.withdrawals
    if allowed is None:
        allowed = DEFAULT_STATUSES
    if row.status not in allowed:
        raise error(f"a {row.status} client cannot {'deposit' if direction == 'deposit' else 'withdraw'} yet",
                    field=None)
