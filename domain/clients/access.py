"""Who may see which client, and so which of a client's objects: a client only themselves;
back-office staff (compliance, dealing, finance: any permission in BACK_OFFICE) every client; other
staff (sales, support, custom roles) only their own desk's clients, and none without a desk.

The same rule holds for everything a client owns that staff reach by id (payments, trading
accounts, their deals and positions, wallets, documents): `staff_sees_owner` is the one check.
Anything else answers "not found", never "forbidden"."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.errors import ClientNotFound
from domain.clients.models import Client
from domain.shared.actor import Actor, ActorKind

# Work that spans every desk: onboarding and compliance, dealing, and finance (approving withdrawals,
# adjusting balances, reconciling), which must reach any client's money, and risk, whose views are
# firm-wide by nature.
BACK_OFFICE = ("kyc.review", "clients.update", "kyc.approve", "trading.manage", "payments.approve_withdrawal",
               "payments.manage", "ledger.adjust", "reconciliation.manage", "risk.read")


def is_back_office(actor: Actor) -> bool:
    return actor.kind is ActorKind.STAFF and any(actor.has(p) for p in BACK_OFFICE)


def visible_filter(actor: Actor) -> ColumnElement[bool]:
    if is_back_office(actor):
        return true()
    if actor.kind is ActorKind.STAFF and actor.desk:
        return Client.desk == actor.desk
    if actor.kind is ActorKind.CLIENT and actor.user_id is not None:
        return Client.user_id == actor.user_id
    return false()


async def staff_sees_owner(session: AsyncSession, actor: Actor, user_id: int | None) -> bool:
    """Whether a staff (or system) actor may see an object owned by this user: back office any; desk
    staff only their desk's clients' (an object with no client behind it belongs to no desk)."""
    if actor.kind is ActorKind.SYSTEM or is_back_office(actor):
        return True
    if actor.kind is not ActorKind.STAFF or not actor.desk or user_id is None:
        return False
    return bool(await session.scalar(select(exists().where(Client.user_id == user_id,
                                                           Client.desk == actor.desk))))


async def client_for(session: AsyncSession, actor: Actor, client_id: int, *, lock: bool = False) -> Client:
    stmt = select(Client).where(Client.id == client_id, visible_filter(actor))
    client = await session.scalar(stmt.with_for_update() if lock else stmt)
    if client is None:
        raise ClientNotFound("client not found", field="clientId")
    return client


async def own_client(session: AsyncSession, actor: Actor, *, lock: bool = False) -> Client:
    """The signed-in client's own record."""
    stmt = select(Client).where(Client.user_id == actor.user_id)
    client = await session.scalar(stmt.with_for_update() if lock else stmt) if actor.user_id is not None else None
    if client is None:
        raise ClientNotFound("you have no client record; register as a client first", field=None)
    return client


def parse_id(value: str, field: str) -> int:
    """IDs are opaque strings at the edge; a malformed one is simply not found."""
    if not value.isdigit() or len(value) > 18:
        raise ClientNotFound("not found", field=field)
    return int(value)
