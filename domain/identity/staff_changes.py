"""Staff changes that take two people: creating a staff user and granting privileged permissions
(a privileged role to a user, or privileged permissions to a role someone holds).

The initiator, stepped up, files a request; another staff member with staff.manage, stepped up,
who is neither the initiator, nor the user concerned, nor related to either (domain/identity/
four_eyes.py), approves it and only then does it apply. A new staff user exists from the request on
but cannot sign in (`pending_approval`) until then. Every step is audited (category
permission_change) and who created, granted and approved is kept in `staff_provenance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity import four_eyes, roles
from domain.identity.models import Role, User, UserRole
from domain.identity.permissions import privileged
from domain.identity.sessions import create_user
from domain.identity.totp import require_step_up
from domain.shared.actor import Actor
from domain.shared.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page
from domain.shared.settings import Settings

PENDING_APPROVAL = "pending_approval"
CATEGORY = roles.CATEGORY


class StaffChangeNotFound(NotFound):
    code = "STAFF_CHANGE_NOT_FOUND"


class StaffChangeNotPending(Conflict):
    code = "STAFF_CHANGE_NOT_PENDING"


@dataclass(frozen=True)
class StaffChange:
    id: int
    kind: str  # create_staff | grant_role | set_role_permissions
    target_user_id: int | None
    role_id: int | None
    payload: dict[str, Any]
    requested_by: int
    status: str  # pending | approved | rejected
    decided_by: int | None
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None


_COLS = ("id, kind, target_user_id, role_id, payload, requested_by, status, decided_by, decision_reason, "
         "created_at, decided_at")


def _change(row: Any) -> StaffChange:
    return StaffChange(**dict(row._mapping))


def _staff_id(actor: Actor) -> int:
    if actor.user_id is None:
        raise PermissionDenied("a signed-in staff member is required")
    return actor.user_id


async def _file(session: AsyncSession, actor: Actor, *, kind: str, target: int | None, role_id: int | None,
                payload: dict[str, Any]) -> StaffChange:
    import orjson

    row = (await session.execute(text(
        "INSERT INTO staff_change_requests (kind, target_user_id, role_id, payload, requested_by) "  # noqa: S608
        f"VALUES (:k, :t, :r, CAST(:p AS jsonb), :u) RETURNING {_COLS}"),
        {"k": kind, "t": target, "r": role_id, "p": orjson.dumps(payload).decode(), "u": _staff_id(actor)})).one()
    change = _change(row)
    await record(session, actor, action="staff_change.requested", entity_type="staff_change_request",
                 entity_id=change.id, after={"kind": kind, "target_user_id": target, "role_id": role_id, **payload},
                 category=CATEGORY)
    return change


async def _role(session: AsyncSession, name: str, field: str = "role") -> Role:
    role = await session.scalar(select(Role).where(Role.name == name))
    if role is None:
        raise NotFound("no such role", field=field)
    return role


async def create_staff(session: AsyncSession, settings: Settings, actor: Actor, *, email: str, password: str,
                       display_name: str, desk: str | None, role_names: list[str]) -> tuple[User, StaffChange]:
    """The user exists at once (so the email is reserved) but cannot sign in until approved; its roles
    apply on approval."""
    await require_step_up(session, actor, settings)
    names = sorted(dict.fromkeys(r.strip() for r in role_names))
    for name in names:
        await _role(session, name, field="roles")
    if desk is not None and (not desk.strip() or len(desk.strip()) > 64):
        raise ValidationFailed("a desk is 1 to 64 characters", field="desk")
    user = await create_user(session, settings, actor, email=email, password=password, display_name=display_name,
                             is_staff=True)
    user.status = PENDING_APPROVAL
    user.desk = desk.strip() if desk is not None else None
    change = await _file(session, actor, kind="create_staff", target=user.id, role_id=None,
                         payload={"roles": names, "desk": user.desk})
    await four_eyes.record_provenance(session, subject_id=user.id, actor_id=actor.user_id, kind="created",
                                      request_id=change.id)
    return user, change


async def grant_role(session: AsyncSession, settings: Settings, actor: Actor, user_id: int,
                     role_name: str) -> StaffChange | None:
    """Grant a role: at once when it carries no privileged permission, else a pending request
    (None: applied)."""
    role = await _role(session, role_name)
    user = await session.get(User, user_id)
    if user is None or not user.is_staff:
        raise NotFound("no such staff user", field="userId")
    if not privileged(role.permissions):
        await roles.assign(session, actor, user_id, role.name)
        await four_eyes.record_provenance(session, subject_id=user_id, actor_id=actor.user_id, kind="granted",
                                          role=role.name)
        return None
    await require_step_up(session, actor, settings)
    return await _file(session, actor, kind="grant_role", target=user_id, role_id=role.id,
                       payload={"role": role.name, "privileged": privileged(role.permissions)})


async def set_role_permissions(session: AsyncSession, settings: Settings, actor: Actor, role_id: int,
                               permissions: list[str]) -> tuple[Role, StaffChange | None]:
    """Change a custom role's permissions: at once unless privileged permissions are added, which
    reach everyone holding the role and so wait for a second approver."""
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound("no such role", field="roleId")
    added = privileged(set(permissions) - set(role.permissions))
    if not added:
        return await roles.set_permissions(session, actor, role_id, permissions), None
    roles.check_changeable(role)
    checked = roles.check_permissions(permissions)
    await require_step_up(session, actor, settings)
    change = await _file(session, actor, kind="set_role_permissions", target=None, role_id=role.id,
                         payload={"role": role.name, "permissions": checked, "privileged": added})
    return role, change


async def _locked(session: AsyncSession, change_id: int) -> StaffChange:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM staff_change_requests WHERE id = :id FOR UPDATE"), {"id": change_id})).first()  # noqa: S608
    if row is None:
        raise StaffChangeNotFound("no such staff change request", field="id")
    change = _change(row)
    if change.status != "pending":
        raise StaffChangeNotPending(f"this request is already {change.status}", field="id")
    return change


async def _holders(session: AsyncSession, role_id: int) -> list[int]:
    return list(await session.scalars(select(UserRole.user_id).where(UserRole.role_id == role_id)))


async def approve(session: AsyncSession, settings: Settings, actor: Actor, change_id: int) -> StaffChange:
    approver = _staff_id(actor)
    change = await _locked(session, change_id)
    if approver in (change.requested_by, change.target_user_id):
        raise four_eyes.SelfApproval("a second staff member, not the requester nor the user concerned, "
                                     "must approve", field="id")
    holders = await _holders(session, change.role_id) if change.kind == "set_role_permissions" and \
        change.role_id is not None else []
    if approver in holders:
        raise four_eyes.SelfApproval("you hold this role; someone else must approve", field="id")
    await four_eyes.require_independent(session, approver, [change.requested_by, change.target_user_id])
    await require_step_up(session, actor, settings)
    subjects: list[tuple[int, str | None]] = []
    if change.kind == "create_staff":
        assert change.target_user_id is not None
        user = await session.get(User, change.target_user_id)
        assert user is not None
        if user.status == PENDING_APPROVAL:
            user.status = "active"
        for name in change.payload.get("roles", []):
            await roles.assign(session, actor, user.id, name)
        subjects = [(user.id, None)] + [(user.id, name) for name in change.payload.get("roles", [])]
    elif change.kind == "grant_role":
        assert change.target_user_id is not None
        name = str(change.payload["role"])
        await roles.assign(session, actor, change.target_user_id, name)
        subjects = [(change.target_user_id, name)]
    else:
        assert change.role_id is not None
        await roles.set_permissions(session, actor, change.role_id, list(change.payload["permissions"]))
        subjects = [(uid, str(change.payload["role"])) for uid in holders]
    for subject, role_name in subjects:
        if role_name is not None:
            await four_eyes.record_provenance(session, subject_id=subject, actor_id=change.requested_by,
                                              kind="granted", role=role_name, request_id=change.id)
        await four_eyes.record_provenance(session, subject_id=subject, actor_id=approver, kind="approved",
                                          role=role_name, request_id=change.id)
    row = (await session.execute(text(
        "UPDATE staff_change_requests SET status = 'approved', decided_by = :u, decided_at = now() "  # noqa: S608
        f"WHERE id = :id RETURNING {_COLS}"), {"u": approver, "id": change.id})).one()
    await record(session, actor, action="staff_change.approved", entity_type="staff_change_request",
                 entity_id=change.id, before={"status": "pending"},
                 after={"status": "approved", "requested_by": change.requested_by, "approved_by": approver},
                 category=CATEGORY)
    return _change(row)


async def reject(session: AsyncSession, actor: Actor, change_id: int, reason: str) -> StaffChange:
    """Refuse a pending change (the requester may withdraw their own); a refused new staff user is
    disabled."""
    decider = _staff_id(actor)
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise ValidationFailed("a reason of 1 to 1000 characters is required", field="reason")
    change = await _locked(session, change_id)
    if change.kind == "create_staff" and change.target_user_id is not None:
        user = await session.get(User, change.target_user_id)
        if user is not None and user.status == PENDING_APPROVAL:
            user.status = "disabled"
    row = (await session.execute(text(
        "UPDATE staff_change_requests SET status = 'rejected', decided_by = :u, decided_at = now(), "  # noqa: S608
        f"decision_reason = :r WHERE id = :id RETURNING {_COLS}"), {"u": decider, "r": reason, "id": change.id})).one()
    await record(session, actor, action="staff_change.rejected", entity_type="staff_change_request",
                 entity_id=change.id, before={"status": "pending"},
                 after={"status": "rejected", "withdrawn_by_requester": decider == change.requested_by},
                 reason=reason, category=CATEGORY)
    return _change(row)


async def changes_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, StaffChange]:
    """Requests by id, any status (one statement)."""
    rows = (await session.execute(text(
        f"SELECT {_COLS} FROM staff_change_requests WHERE id = ANY(:ids)"), {"ids": ids})).all()  # noqa: S608
    return {c.id: c for c in (_change(r) for r in rows)}


async def pending(session: AsyncSession, page: PageRequest) -> Page[StaffChange]:
    """Requests waiting for a second staff member, oldest first."""
    return await sql_page(session, page, columns=_COLS, source="staff_change_requests", where=["status = 'pending'"],
                          params={}, key=("created_at", "id"), descending=False, convert=_change)
