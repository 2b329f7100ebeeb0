"""Screening clients against every stored list: at submission, and again whenever a list or the
client's data changes. Hits wait for review; a confirmed hit blocks the client."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.models import Client
from domain.clients.status import Status, transition
from domain.compliance.errors import ScreeningAlreadyResolved, ScreeningResultNotFound
from domain.compliance.lists import indexes
from domain.compliance.matching import DEFAULT_THRESHOLD, MATCHER_VERSION, Match, Query
from domain.compliance.models import ScreeningResult
from domain.shared.actor import Actor
from domain.shared.pagination import Page, PageRequest, select_page


def queries_for(client: Client) -> list[Query]:
    """The person, and for corporate clients the company and each director."""
    return queries_of(client.full_name, client.date_of_birth, client.country, client.profile.get("company"),
                      client.profile.get("nationality"))


def queries_of(full_name: str, date_of_birth: date | None, country: str | None,
               company: dict[str, Any] | None, nationality: str | None = None) -> list[Query]:
    found: list[Query] = []
    if full_name:
        # The matcher weighs one country per query: the nationality when given (what lists record of a
        # person), else the residence standing in for it.
        found.append(Query(full_name, date_of_birth, nationality or country))
    company = company or {}
    if company.get("name"):
        found.append(Query(str(company["name"]), None, company.get("country")))
    for director in company.get("directors") or []:
        name = f"{director.get('first_name', '')} {director.get('last_name', '')}".strip()
        if name:
            dob = director.get("date_of_birth")
            found.append(Query(name, date.fromisoformat(dob) if dob else None, director.get("country")))
    return found


async def screen_client(session: AsyncSession, actor: Actor, client: Client,
                        threshold: float = DEFAULT_THRESHOLD) -> list[ScreeningResult]:
    """Store one result per hit (pending review), or one 'clear' per list; returns the new rows.

    A hit already on file for the same entity keeps its review (a dismissed hit stays dismissed).
    """
    known = set(await session.scalars(
        select(ScreeningResult.entity_id).where(ScreeningResult.client_id == client.id,
                                                ScreeningResult.entity_id.is_not(None))))
    created: list[ScreeningResult] = []
    pending: list[dict[str, Any]] = []
    for lst, index in await indexes(session):
        matches: dict[str, Match] = {}
        for query in queries_for(client):
            for match in index.search(query, threshold=threshold):
                prior = matches.get(match.entity.entity_id)
                if prior is None or match.score > prior.score:
                    matches[match.entity.entity_id] = match
        common = {"client_id": client.id, "list_name": lst.name, "list_version": lst.version,
                  "matcher_version": MATCHER_VERSION, "threshold": Decimal(str(threshold))}
        if not matches:
            created.append(ScreeningResult(**common, score=Decimal(0), status="clear"))
        for match in matches.values():
            if match.entity.entity_id in known:
                continue
            pending.append({**common, "score": Decimal(str(match.score)), "entity_id": match.entity.entity_id,
                            "entity_caption": match.entity.caption, "topics": list(match.entity.topics),
                            "status": "pending"})
    session.add_all(created)
    await session.flush()
    hits: list[ScreeningResult] = []
    if pending:  # a re-screening run may have stored the same hit a moment ago: one row per client, list, entity
        hits = list(await session.scalars(insert(ScreeningResult).values(pending).on_conflict_do_nothing(
            index_elements=["client_id", "list_name", "entity_id"],
            index_where=ScreeningResult.entity_id.is_not(None)).returning(ScreeningResult)))
        created += hits
    await record(session, actor, action="client.screened", entity_type="client", entity_id=client.id,
                 after={"hits": [{"list": r.list_name, "entity": r.entity_id, "score": str(r.score)} for r in hits],
                        "matcher": MATCHER_VERSION, "threshold": threshold}, category="general")
    return created


async def has_pending_hits(session: AsyncSession, client_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(
        ScreeningResult.client_id == client_id, ScreeningResult.status == "pending"))))


async def resolve_hit(session: AsyncSession, actor: Actor, result_id: int, *, confirmed: bool,
                      reason: str) -> ScreeningResult:
    row = await session.get(ScreeningResult, result_id, with_for_update=True)
    if row is None:
        raise ScreeningResultNotFound("screening result not found", field="resultId")
    if row.status != "pending":
        raise ScreeningAlreadyResolved(f"this result is already {row.status}", field="resultId")
    row.status = "confirmed" if confirmed else "dismissed"
    row.reviewed_by, row.review_reason = actor.user_id, reason[:2000]
    if confirmed:
        client = await session.get(Client, row.client_id, with_for_update=True)
        assert client is not None
        if client.status != Status.BLOCKED.value:
            await transition(session, actor, client, Status.BLOCKED, reason=f"confirmed screening hit: {reason}")
    await record(session, actor, action="screening_result.resolved", entity_type="screening_result",
                 entity_id=row.id, before={"status": "pending"}, after={"status": row.status},
                 reason=reason, category="general")
    return row


async def visible_hits(session: AsyncSession, actor: Actor, ids: list[int]) -> dict[int, ScreeningResult]:
    """Hits among `ids` of clients the actor may see (its desk's, any for back office), one statement."""
    from domain.clients.access import visible_filter

    visible = select(Client.id).where(visible_filter(actor))
    rows = await session.scalars(select(ScreeningResult).where(ScreeningResult.id.in_(ids),
                                                               ScreeningResult.client_id.in_(visible)))
    return {r.id: r for r in rows}


async def hits(session: AsyncSession, status: str, page: PageRequest) -> Page[ScreeningResult]:
    """Screening hits in one status, oldest first."""
    return await select_page(session, page, select(ScreeningResult).where(ScreeningResult.status == status),
                             (ScreeningResult.created_at, ScreeningResult.id), descending=False,
                             convert=lambda row: row)


async def for_client(session: AsyncSession, client_id: int, page: PageRequest) -> Page[ScreeningResult]:
    """A client's screening hits in the order they were found (ix_screening_results_client)."""
    return await select_page(session, page, select(ScreeningResult).where(ScreeningResult.client_id == client_id),
                             (ScreeningResult.id,), descending=False, convert=lambda row: row)


async def for_case(session: AsyncSession, case_id: int, page: PageRequest) -> Page[ScreeningResult]:
    """The screening hits that opened or joined an AML case, in the order found (ix_screening_results_case)."""
    return await select_page(session, page, select(ScreeningResult).where(ScreeningResult.case_id == case_id),
                             (ScreeningResult.id,), descending=False, convert=lambda row: row)
