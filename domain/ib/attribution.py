"""Referral links and client attribution.

A client's IB is fixed at registration from the referral code (first touch by default: a client
already attributed keeps its IB) and is then locked. Only staff reassign, with a reason and an
effective date; history is kept as effective-dated rows, so deals before the date still pay the
old IB. A date in the past rewrites paid history and needs the explicit `allow_retroactive`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib import RELATIONSHIP_CATEGORY
from domain.ib.errors import (
    ChangeBeforeLastChange,
    ClientAlreadyAttributed,
    ClientNotFound,
    ReferralCodeUnknown,
    RetroactiveNotAllowed,
    SelfReferral,
)
from domain.ib.network import PAST_TOLERANCE, require_approved
from domain.shared.actor import Actor
from domain.shared.db import utcnow
from domain.shared.errors import ValidationFailed

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by people


class AttributionPolicy(StrEnum):
    FIRST_TOUCH = "first_touch"  # an attributed client keeps its IB
    LAST_TOUCH = "last_touch"  # a later code before the client's first deal moves it (still audited)


@dataclass(frozen=True)
class ReferralLink:
    id: int
    ib_id: int
    code: str
    campaign: str


async def create_link(session: AsyncSession, actor: Actor, ib_id: int, *, campaign: str = "") -> ReferralLink:
    await require_approved(session, ib_id)
    campaign = campaign.strip()
    if len(campaign) > 80:
        raise ValidationFailed("campaign tags have at most 80 characters", field="campaign")
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
    link_id = await session.scalar(text(
        "INSERT INTO ib_referral_links (ib_id, code, campaign) VALUES (:ib, :c, :t) RETURNING id"),
        {"ib": ib_id, "c": code, "t": campaign})
    await record(session, actor, action="ib.link_created", entity_type="ib_referral_link", entity_id=int(link_id),
                 after={"ib_id": ib_id, "campaign": campaign})
    return ReferralLink(int(link_id), ib_id, code, campaign)


async def current_ib(session: AsyncSession, client_id: int, *, at: datetime | None = None) -> int | None:
    ib = await session.scalar(text(
        "SELECT ib_id FROM ib_client_attributions WHERE client_id = :c AND valid_from <= :at "
        "AND (valid_to IS NULL OR valid_to > :at)"), {"c": client_id, "at": at or utcnow()})
    return int(ib) if ib is not None else None


async def attribute_at_registration(
    session: AsyncSession, actor: Actor, client_id: int, code: str, *, at: datetime | None = None,
    policy: AttributionPolicy = AttributionPolicy.FIRST_TOUCH,
) -> int:
    """Attribute a newly registered client to the IB owning `code`; returns the IB's id."""
    link = (await session.execute(text(
        "SELECT l.id, l.ib_id FROM ib_referral_links l JOIN ib_partners p ON p.user_id = l.ib_id "
        "WHERE l.code = :c AND l.disabled_at IS NULL AND p.status = 'approved'"), {"c": code.strip().upper()})).first()
    if link is None:
        raise ReferralCodeUnknown("unknown referral code", field="referralCode")
    if int(link.ib_id) == client_id:
        raise SelfReferral("an IB cannot refer itself", field="referralCode")
    if await session.scalar(text("SELECT 1 FROM users WHERE id = :id"), {"id": client_id}) is None:
        raise ClientNotFound("no such client", field="clientId")
    at = at or utcnow()
    # The row lock serialises two registrations racing for the same client.
    await session.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": client_id})
    existing = await current_ib(session, client_id, at=at)
    if existing is not None:
        if policy is AttributionPolicy.FIRST_TOUCH or existing == int(link.ib_id):
            raise ClientAlreadyAttributed("this client already has an IB", field="clientId")
        traded = await session.scalar(text(
            "SELECT 1 FROM trading_accounts a JOIN trading_deals d ON d.server_id = a.server_id AND d.login = a.login "
            "WHERE a.user_id = :c LIMIT 1"), {"c": client_id})
        if traded is not None:
            raise ClientAlreadyAttributed("this client's IB is locked", field="clientId")
        await _close_current(session, client_id, at)
    await session.execute(text(
        "INSERT INTO ib_client_attributions (client_id, ib_id, link_id, source, valid_from) "
        "VALUES (:c, :ib, :l, 'registration', :at)"), {"c": client_id, "ib": link.ib_id, "l": link.id, "at": at})
    await record(session, actor, action="ib.client_attributed", entity_type="client", entity_id=client_id,
                 before={"ib_id": existing}, after={"ib_id": int(link.ib_id), "link_id": int(link.id)},
                 category=RELATIONSHIP_CATEGORY)
    return int(link.ib_id)


async def _close_current(session: AsyncSession, client_id: int, at: datetime) -> None:
    last = await session.scalar(text(
        "SELECT max(valid_from) FROM ib_client_attributions WHERE client_id = :c"), {"c": client_id})
    if last is not None and last >= at:
        raise ChangeBeforeLastChange("the effective date must be after the client's last attribution change",
                                     field="effectiveFrom")
    await session.execute(text(
        "UPDATE ib_client_attributions SET valid_to = :at WHERE client_id = :c AND valid_to IS NULL"),
        {"c": client_id, "at": at})


async def reassign(
    session: AsyncSession, actor: Actor, client_id: int, new_ib_id: int, *, effective_from: datetime, reason: str,
    allow_retroactive: bool = False,
) -> None:
    """Staff move a client to another IB from `effective_from`; never retroactive unless chosen."""
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    if effective_from < utcnow() - PAST_TOLERANCE and not allow_retroactive:
        raise RetroactiveNotAllowed("a reassignment dated in the past needs allowRetroactive",
                                    field="effectiveFrom")
    await require_approved(session, new_ib_id)
    if new_ib_id == client_id:
        raise SelfReferral("an IB cannot be its own client's IB", field="ibId")
    if await session.scalar(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": client_id}) is None:
        raise ClientNotFound("no such client", field="clientId")
    before = await current_ib(session, client_id, at=effective_from)
    await _close_current(session, client_id, effective_from)
    await session.execute(text(
        "INSERT INTO ib_client_attributions (client_id, ib_id, source, valid_from, reason, created_by) "
        "VALUES (:c, :ib, 'reassignment', :at, :r, :by)"),
        {"c": client_id, "ib": new_ib_id, "at": effective_from, "r": reason[:2000], "by": actor.user_id})
    await record(session, actor, action="ib.client_reassigned", entity_type="client", entity_id=client_id,
                 before={"ib_id": before},
                 after={"ib_id": new_ib_id, "effective_from": effective_from.isoformat(),
                        "retroactive": allow_retroactive},
                 reason=reason, category=RELATIONSHIP_CATEGORY)
