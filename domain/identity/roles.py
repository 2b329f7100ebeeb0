"""Staff roles: built-in and custom, each a set of catalogued permissions; changes are audited."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.identity.models import Role, User, UserRole
from domain.identity.permissions import BUILTIN_ROLES, PERMISSIONS
from domain.shared.actor import Actor
from domain.shared.errors import DomainError, NotFound, ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page

CATEGORY = "permission_change"


async def ensure_builtin_roles(session: AsyncSession) -> None:
    """Create or refresh the built-in roles (their permissions follow the catalogue)."""
    for name, (description, perms) in BUILTIN_ROLES.items():
        stmt = insert(Role).values(name=name, description=description, builtin=True, permissions=perms)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=[Role.name], set_={"permissions": perms, "description": description, "builtin": True}
        ))


def check_permissions(permissions: list[str]) -> list[str]:
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown:
        raise DomainError(f"unknown permissions: {', '.join(unknown)}", field="permissions", code="UNKNOWN_PERMISSION")
    return sorted(set(permissions))


async def create_role(session: AsyncSession, actor: Actor, *, name: str, description: str,
                      permissions: list[str]) -> Role:
    name = name.strip().lower()
    if not name or len(name) > 64 or not name.replace("_", "").replace("-", "").isalnum():
        raise ValidationFailed("role names are 1-64 letters, digits, - or _", field="name")
    perms = check_permissions(permissions)
    role_id = await session.scalar(insert(Role).values(name=name, description=description.strip(), permissions=perms)
                                   .on_conflict_do_nothing(index_elements=[Role.name]).returning(Role.id))
    if role_id is None:
        raise DomainError("a role with this name exists", field="name", code="ROLE_EXISTS")
    await record(session, actor, action="role.created", entity_type="role", entity_id=role_id,
                 after={"name": name, "permissions": perms}, category=CATEGORY)
    role = await session.get(Role, role_id)
    assert role is not None
    return role


def check_changeable(role: Role) -> None:
    if role.builtin:
        raise DomainError("built-in roles follow the catalogue; create a custom role", code="BUILTIN_ROLE")


async def set_permissions(session: AsyncSession, actor: Actor, role_id: int, permissions: list[str]) -> Role:
    role = await session.scalar(select(Role).where(Role.id == role_id).with_for_update())
    if role is None:
        raise NotFound("no such role", field="roleId")
    check_changeable(role)
    before = list(role.permissions)
    role.permissions = check_permissions(permissions)
    await record(session, actor, action="role.permissions_changed", entity_type="role", entity_id=role.id,
                 before={"permissions": before}, after={"permissions": role.permissions}, category=CATEGORY)
    return role


async def assign(session: AsyncSession, actor: Actor, user_id: int, role_name: str) -> None:
    role = await session.scalar(select(Role).where(Role.name == role_name))
    user = await session.get(User, user_id)
    if role is None:
        raise NotFound("no such role", field="role")
    if user is None or not user.is_staff:
        raise NotFound("no such staff user", field="userId")
    await session.execute(insert(UserRole).values(user_id=user_id, role_id=role.id).on_conflict_do_nothing())
    await record(session, actor, action="role.assigned", entity_type="user", entity_id=user_id,
                 after={"role": role_name}, category=CATEGORY)


async def unassign(session: AsyncSession, actor: Actor, user_id: int, role_name: str) -> None:
    role = await session.scalar(select(Role).where(Role.name == role_name))
    if role is None:
        raise NotFound("no such role", field="role")
    result = await session.execute(delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_id == role.id))
    if not getattr(result, "rowcount", 0):
        raise NotFound("the user does not have this role", field="role")
    await record(session, actor, action="role.unassigned", entity_type="user", entity_id=user_id,
                 before={"role": role_name}, category=CATEGORY)


async def roles_of(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.scalars(select(Role.name).join(UserRole, UserRole.role_id == Role.id)
                                 .where(UserRole.user_id == user_id).order_by(Role.name))
    return list(rows)


async def staff_users(session: AsyncSession, page: PageRequest) -> Page[User]:
    """Staff members in the order they were created."""
    return await select_page(session, page, select(User).where(User.is_staff), (User.created_at, User.id),
                             descending=False, convert=lambda row: row)


async def active_staff_holding(session: AsyncSession, permission: str) -> list[tuple[int, str]]:
    """Active staff members one of whose roles grants `permission`: (user id, display name), by name.

    For pickers that must not need staff.manage (e.g. whom an AML case may go to): nothing but the
    id and the name is read.
    """
    rows = await session.execute(
        select(User.id, User.display_name).where(
            User.is_staff, User.status == "active",
            select(UserRole.user_id).join(Role, Role.id == UserRole.role_id)
            .where(UserRole.user_id == User.id, Role.permissions.contains([permission])).exists())
        .order_by(User.display_name, User.id))
    return [(int(i), name) for i, name in rows.all()]
