"""Lead capture with attribution: deduped by email, assigned to sales by rules (country,
language, then round robin among the rule's assignees). Later touches are kept alongside the
first-touch attribution, which is what a lead carries into its client record."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.config import country_code
from domain.clients.emails import check_email
from domain.clients.models import Lead, LeadTouch, SalesRule
from domain.identity.models import User
from domain.shared.actor import Actor
from domain.shared.errors import NotFound, ValidationFailed


@dataclass(frozen=True)
class Attribution:
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    referrer: str = ""
    landing_page: str = ""
    ib_code: str = ""

    def as_json(self) -> dict[str, str]:
        return {k: v[:300] for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class LeadInput:
    email: str
    first_name: str = ""
    last_name: str = ""
    country: str | None = None
    language: str | None = None
    attribution: Attribution = Attribution()


async def _assign(session: AsyncSession, country: str | None, language: str | None) -> tuple[str | None, int | None]:
    """The first matching rule by priority; its row lock serialises the round robin."""
    rule = await session.scalar(
        select(SalesRule)
        .where(or_(SalesRule.country.is_(None), SalesRule.country == country),
               or_(SalesRule.language.is_(None), SalesRule.language == language))
        .order_by(SalesRule.priority, SalesRule.id).limit(1).with_for_update())
    if rule is None:
        return None, None
    assignee = rule.assignees[rule.next_index % len(rule.assignees)] if rule.assignees else None
    rule.next_index = (rule.next_index + 1) % max(1, len(rule.assignees))
    return rule.desk, assignee


async def capture_lead(session: AsyncSession, actor: Actor, data: LeadInput) -> Lead:
    """Create the lead, or record one more touch on the existing lead with this email."""
    cleaned, key = check_email(data.email)
    country = country_code(data.country) if data.country else None
    language = (data.language or "").lower()[:8] or None
    touch = data.attribution.as_json()
    lead_id = await session.scalar(
        insert(Lead).values(email=cleaned, email_normalized=key, first_name=data.first_name.strip()[:100],
                            last_name=data.last_name.strip()[:100], country=country, language=language,
                            first_touch=touch)
        .on_conflict_do_nothing(index_elements=[Lead.email_normalized]).returning(Lead.id))
    if lead_id is None:
        lead = await session.scalar(select(Lead).where(Lead.email_normalized == key))
        assert lead is not None
        session.add(LeadTouch(lead_id=lead.id, attribution=touch))
        await record(session, actor, action="lead.touched", entity_type="lead", entity_id=lead.id, after=touch,
                     category="general")
        return lead
    lead = await session.get(Lead, lead_id)
    assert lead is not None
    lead.desk, lead.assigned_to = await _assign(session, country, language)
    session.add(LeadTouch(lead_id=lead.id, attribution=touch))
    await record(session, actor, action="lead.captured", entity_type="lead", entity_id=lead.id,
                 after={"country": country, "desk": lead.desk, "assigned_to": lead.assigned_to, **touch},
                 category="general")
    return lead


async def add_sales_rule(session: AsyncSession, actor: Actor, *, desk: str, assignees: list[int],
                         country: str | None = None, language: str | None = None, priority: int = 100) -> SalesRule:
    if not desk.strip():
        raise ValidationFailed("name the desk", field="desk")
    if not 0 <= priority <= 1_000_000:
        raise ValidationFailed("priority is between 0 and 1000000", field="priority")
    staff = set(await session.scalars(select(User.id).where(
        User.id.in_(assignees), User.is_staff.is_(True), User.status == "active")))
    if not assignees or staff != set(assignees):
        # Unknown and non-staff users alike: never reveal which IDs exist.
        raise NotFound("assign the rule to active staff users", field="assignees")
    rule = SalesRule(desk=desk.strip()[:64], assignees=list(dict.fromkeys(assignees)),
                     country=country_code(country) if country else None,
                     language=language.lower()[:8] if language else None, priority=priority, next_index=0)
    session.add(rule)
    await session.flush()
    await record(session, actor, action="sales_rule.created", entity_type="sales_rule", entity_id=rule.id,
                 after={"desk": desk, "assignees": assignees, "country": rule.country, "language": rule.language},
                 category="general")
    return rule
