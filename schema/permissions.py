"""Declared permissions (DESIGN.md rule 3).

Fields and mutations declare what they need: `permission_classes=[IsAuthenticated]` or
`[Requires("audit.read")]`. Ownership rules for objects reachable by ID live with their loaders
(schema/node.py). A refusal is a top-level error with a stable code and no data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission
from strawberry.types import Info

from schema.context import Context
from schema.errors import PublicError


class IsAuthenticated(BasePermission):
    message = "You must be signed in."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        return info.context.actor.is_authenticated


class _RequiresBase(BasePermission):
    permission: ClassVar[str] = ""
    message = "You do not have permission to do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        actor = info.context.actor
        if not actor.is_authenticated:
            raise PublicError("You must be signed in.", "UNAUTHENTICATED")
        return actor.has(self.permission)


_REQUIRES_CACHE: dict[str, type[BasePermission]] = {}
# Every permission code declared anywhere in the schema; staff roles are validated against it.
DECLARED_PERMISSIONS: set[str] = set()


def Requires(permission: str) -> type[BasePermission]:
    """A permission class requiring the staff permission `<context>.<action>`."""
    from domain.identity.permissions import is_known

    if not is_known(permission):
        raise ValueError(f"{permission!r} is not in domain/identity/permissions.py PERMISSIONS")
    cls = _REQUIRES_CACHE.get(permission)
    if cls is None:
        cls = type(f"Requires_{permission.replace('.', '_')}", (_RequiresBase,), {"permission": permission})
        _REQUIRES_CACHE[permission] = cls
        DECLARED_PERMISSIONS.add(permission)
    return cls
