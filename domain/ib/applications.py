"""IB applications: a signed-in user asks to become an IB; staff approve (under a parent, on a
plan) or reject with a reason; the applicant follows the status.

One open application per user (a partial unique index: two racing submissions leave one). An
approval feeds `network.approve` (the IB joins the tree) and, with a plan, `plans.assign` from the
same instant, in one transaction. A rejected applicant may apply again later.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib import RELATIONSHIP_CATEGORY, network, plans
from domain.ib.errors import AlreadyIb, ApplicationNotFound, IbAlreadyApplied, IbNotPending, PlanNotFound
from domain.shared.actor import Actor
from domain.shared.errors import FieldErrors, ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page

CHANNELS = ("website", "social_media", "youtube", "telegram", "email", "seminars", "offline", "other")
MAX_CHANNELS = len(CHANNELS)
MAX_EXPECTED_CLIENTS = 1_000_000
STATUSES = ("pending", "approved", "rejected")


@dataclass(frozen=True)
class Application:
    id: int
    user_id: int
    status: str
    website: str
    channels: list[str]
    expected_clients: int
    message: str
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    parent_id: int | None
    plan_id: int | None


_COLS = ("id, user_id, status, website, channels, expected_clients, message, created_at, decided_at, "
         "decision_reason, parent_id, plan_id")


def _app(r: Any) -> Application:
    m = r._mapping
    return Application(int(m["id"]), int(m["user_id"]), m["status"], m["website"], list(m["channels"]),
                       int(m["expected_clients"]), m["message"], m["created_at"], m["decided_at"],
                       m["decision_reason"], m["parent_id"], m["plan_id"])


@dataclass(frozen=True)
class ApplicationInput:
    website: str
    channels: list[str]
    expected_clients: int
    message: str = ""


def _clean(data: ApplicationInput) -> ApplicationInput:
    form = FieldErrors()
    website = data.website.strip()
    channels = sorted({c.strip().lower() for c in data.channels})

    def check_website() -> None:
        if len(website) > 300 or (website and not website.lower().startswith(("http://", "https://"))):
            raise ValidationFailed("the website is an http(s) address of at most 300 characters", field="website")

    def check_channels() -> None:
        unknown = [c for c in channels if c not in CHANNELS]
        if not channels or unknown:
            raise ValidationFailed(f"channels: one or more of {', '.join(CHANNELS)}", field="channels")

    def check_expected() -> None:
        if not 0 <= data.expected_clients <= MAX_EXPECTED_CLIENTS:
            raise ValidationFailed(f"expected clients is 0 to {MAX_EXPECTED_CLIENTS}", field="expectedClients")

    def check_message() -> None:
        if len(data.message.strip()) > 2000:
            raise ValidationFailed("the message has at most 2000 characters", field="message")

    for check in (check_website, check_channels, check_expected, check_message):
        form.take(check)
    form.raise_if_any()
    return ApplicationInput(website, channels, data.expected_clients, data.message.strip())


async def apply(session: AsyncSession, actor: Actor, user_id: int, data: ApplicationInput) -> Application:
    """The signed-in user's application; refused while one is open or when already an IB."""
    data = _clean(data)
    # The user row lock serialises two submissions of one user (the unique index is the backstop).
    await session.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": user_id})
    status = await session.scalar(text("SELECT status FROM ib_partners WHERE user_id = :id"), {"id": user_id})
    if status in ("approved", "suspended"):
        raise AlreadyIb("you are an IB already", field=None)
    if status == "pending":
        raise IbAlreadyApplied("you have an open application", field=None)
    row = (await session.execute(text(
        "INSERT INTO ib_applications (user_id, website, channels, expected_clients, message) "
        f"VALUES (:u, :w, :c, :e, :m) ON CONFLICT DO NOTHING RETURNING {_COLS}"),
        {"u": user_id, "w": data.website, "c": data.channels, "e": data.expected_clients, "m": data.message})).first()
    if row is None:
        raise IbAlreadyApplied("you have an open application", field=None)
    app = _app(row)
    await record(session, actor, action="ib.application_submitted", entity_type="ib_application", entity_id=app.id,
                 after={"user_id": user_id, "channels": data.channels, "expected_clients": data.expected_clients},
                 category=RELATIONSHIP_CATEGORY)
    return app


async def mine(session: AsyncSession, user_id: int, page: PageRequest) -> Page[Application]:
    """The user's applications, newest first."""
    return await sql_page(session, page, columns=_COLS, source="ib_applications", where=["user_id = :u"],
                          params={"u": user_id}, key=("created_at", "id"), descending=True, convert=_app)


async def by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Application]:
    rows = (await session.execute(text(f"SELECT {_COLS} FROM ib_applications WHERE id = ANY(:ids)"),
                                  {"ids": ids})).all()
    return {a.id: a for a in map(_app, rows)}


async def list_applications(session: AsyncSession, *, status: str | None, page: PageRequest) -> Page[Application]:
    """Newest first, keyset on (created_at, id)."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed("status is pending, approved or rejected", field="status")
    return await sql_page(session, page, columns=_COLS, source="ib_applications",
                          where=["(CAST(:st AS text) IS NULL OR status = :st)"], params={"st": status},
                          key=("created_at", "id"), descending=True, convert=_app)


async def _pending(session: AsyncSession, application_id: int) -> Application:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM ib_applications WHERE id = :id FOR UPDATE"), {"id": application_id})).first()
    if row is None:
        raise ApplicationNotFound("no such application", field="applicationId")
    app = _app(row)
    if app.status != "pending":
        raise IbNotPending("this application has already been decided", field="applicationId")
    return app


async def approve(session: AsyncSession, actor: Actor, application_id: int, *, parent_id: int | None,
                  plan_id: int | None, reason: str = "") -> Application:
    """The applicant becomes an IB under `parent_id` (None: top level), on `plan_id` when given."""
    app = await _pending(session, application_id)
    if plan_id is not None and await session.scalar(text("SELECT 1 FROM ib_plans WHERE id = :id"),
                                                    {"id": plan_id}) is None:
        raise PlanNotFound("no such plan", field="planId")
    if parent_id is not None:
        await network.require_approved(session, parent_id, field="parentId")
    # The partner row: new, or back to pending after an earlier rejection.
    await session.execute(text(
        "INSERT INTO ib_partners (user_id, requested_parent_id, application_note) VALUES (:u, :p, :n) "
        "ON CONFLICT (user_id) DO UPDATE SET status = 'pending', requested_parent_id = EXCLUDED.requested_parent_id, "
        "application_note = EXCLUDED.application_note, decided_at = NULL, decided_by = NULL "
        "WHERE ib_partners.status IN ('pending', 'rejected')"),
        {"u": app.user_id, "p": parent_id, "n": app.message[:2000]})
    at = await network.approve(session, actor, app.user_id, parent_id=parent_id, use_requested_parent=False)
    if plan_id is not None:
        await plans.assign(session, actor, app.user_id, plan_id, effective_from=at, reason=reason or "IB approved")
    row = (await session.execute(text(
        "UPDATE ib_applications SET status = 'approved', decided_at = :at, decided_by = :by, decision_reason = :r, "
        f"parent_id = :p, plan_id = :pl WHERE id = :id RETURNING {_COLS}"),
        {"at": at, "by": actor.user_id, "r": reason.strip()[:2000] or None, "p": parent_id, "pl": plan_id,
         "id": app.id})).one()
    await record(session, actor, action="ib.application_approved", entity_type="ib_application", entity_id=app.id,
                 before={"status": "pending"},
                 after={"status": "approved", "user_id": app.user_id, "parent_id": parent_id, "plan_id": plan_id},
                 reason=reason.strip() or None, category=RELATIONSHIP_CATEGORY)
    return _app(row)


async def reject(session: AsyncSession, actor: Actor, application_id: int, *, reason: str) -> Application:
    reason = reason.strip()
    if not 0 < len(reason) <= 2000:
        raise ValidationFailed("a reason of 1 to 2000 characters is required", field="reason")
    app = await _pending(session, application_id)
    row = (await session.execute(text(
        "UPDATE ib_applications SET status = 'rejected', decided_at = now(), decided_by = :by, decision_reason = :r "
        f"WHERE id = :id RETURNING {_COLS}"), {"by": actor.user_id, "r": reason, "id": app.id})).one()
    await record(session, actor, action="ib.application_rejected", entity_type="ib_application", entity_id=app.id,
                 before={"status": "pending"}, after={"status": "rejected", "user_id": app.user_id}, reason=reason,
                 category=RELATIONSHIP_CATEGORY)
    return _app(row)


async def applicant_emails(session: AsyncSession, user_ids: list[int]) -> dict[int, str]:
    rows = (await session.execute(text("SELECT id, email FROM users WHERE id = ANY(CAST(:ids AS bigint[]))"),
                                  {"ids": user_ids})).all()
    return {int(r.id): str(r.email) for r in rows}
