"""Declared permissions (DESIGN.md rule 3) and the API-token scopes that go with them (rule 16).

Fields and mutations declare what they need: `permission_classes=[IsAuthenticated]` or
`[Requires("audit.read")]`. Ownership rules for objects reachable by ID live with their loaders
(schema/node.py). A refusal is a top-level error with a stable code and no data.

API tokens are deny-by-default. Every permission class a root field may use derives from
`Declared` and so declares `token_scopes`, the scopes that let an API token run the field:

- `IsAuthenticated`: a signed-in session only; API tokens are refused.
- `IsAuthenticated.or_token("profile.read")`: a signed-in session, or a token holding that scope.
- `Public.or_token("profile.read")`: anyone, and a token holding that scope (`me`).
- `Requires("audit.read")`: the staff permission; a token needs that same code among its scopes
  (and its owner still needs the permission: a token's permissions are its owner's ∩ its scopes).

A root field without a permission class (sign-in, registration, `me`, `serverTime`) is refused to
tokens. `token_rules` reads every root field's declaration when the schema is built (a field
using a permission class that declares nothing fails the build), and `scope_refusal` checks an
API-token operation's root fields against them once, before anything runs: a document with one
refused root field runs none of its fields, so a refusal has no side effects. Requests without a
token pay one attribute test. Fields nested under an allowed root need no scope of their own: they
stay within the root's domain (a client's own records, an IB's own downline); where a nested field
reaches staff data it declares `Requires`, which the token's scopes bound as above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.permission import BasePermission
from strawberry.types import Info

from domain.shared.actor import Actor, ActorKind
from schema.context import Context
from schema.errors import PublicError

INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
# A root field's rule: every clause must meet the token's scopes (any one scope of a clause will
# do). No clauses at all: tokens are refused.
TokenRule = tuple[frozenset[str], ...]


class Declared(BasePermission):
    """A permission class that says which API-token scopes may pass it (empty: none may).
    `object_independent`: its answer depends on the caller only, never on the object the field is
    read on (the executor may then check it once per field and operation: schema/plain_fields.py)."""

    token_scopes: ClassVar[frozenset[str]] = frozenset()
    object_independent: ClassVar[bool] = False

    @classmethod
    def or_token(cls, *scopes: str) -> type[BasePermission]:
        """This permission, also open to an API token holding one of `scopes`."""
        return _scoped(cls, scopes)


class IsAuthenticated(Declared):
    object_independent = True
    message = "You must be signed in."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        return info.context.actor.is_authenticated


class Public(Declared):
    """Anyone, signed in or not. Only needed with `or_token` (`Public.or_token("profile.read")`): a
    field without any permission class is already public and refused to API tokens."""

    object_independent = True

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        return True


class _RequiresBase(Declared):
    object_independent = True
    permission: ClassVar[str] = ""
    message = "You do not have permission to do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info[Context, Any], **kwargs: Any) -> bool:
        actor = info.context.actor
        if not actor.is_authenticated:
            raise PublicError("You must be signed in.", "UNAUTHENTICATED")
        return actor.has(self.permission)


_REQUIRES_CACHE: dict[str, type[BasePermission]] = {}
_SCOPED_CACHE: dict[tuple[type, frozenset[str]], type[BasePermission]] = {}
# Every permission code declared anywhere in the schema; staff roles are validated against it.
DECLARED_PERMISSIONS: set[str] = set()


def Requires(permission: str) -> type[BasePermission]:
    """A permission class requiring the staff permission `<context>.<action>` (also the token scope)."""
    from domain.identity.permissions import is_known

    if not is_known(permission):
        raise ValueError(f"{permission!r} is not in domain/identity/permissions.py PERMISSIONS")
    cls = _REQUIRES_CACHE.get(permission)
    if cls is None:
        cls = type(f"Requires_{permission.replace('.', '_')}", (_RequiresBase,),
                   {"permission": permission, "token_scopes": frozenset({permission})})
        _REQUIRES_CACHE[permission] = cls
        DECLARED_PERMISSIONS.add(permission)
    return cls


def _scoped(base: type[Declared], scopes: Iterable[str]) -> type[BasePermission]:
    from domain.identity.api_tokens import valid_scopes

    wanted = frozenset(scopes)
    unknown = wanted - valid_scopes()
    if not wanted or unknown:
        raise ValueError(f"token scopes {sorted(unknown) or '(none)'} are not in domain/identity/api_tokens.py")
    cls = _SCOPED_CACHE.get((base, wanted))
    if cls is None:
        name = f"{base.__name__}_or_{'_'.join(sorted(s.replace('.', '_') for s in wanted))}"
        cls = type(name, (base,), {"token_scopes": wanted})
        _SCOPED_CACHE[(base, wanted)] = cls
    return cls


def _field_rule(owner: str, field: Any) -> TokenRule:
    clauses: list[frozenset[str]] = []
    for permission in field.permission_classes:
        if not (isinstance(permission, type) and issubclass(permission, Declared)):
            raise TypeError(f"{owner}.{field.python_name}: permission {permission!r} does not derive from "
                            "schema.permissions.Declared, so it declares no API-token scopes")
        clauses.append(permission.token_scopes)
    if not clauses or not all(clauses):
        return ()  # no permission class (public), or one that refuses tokens
    return tuple(clauses)


def token_rules(roots: Mapping[OperationType, type | None],
                graphql_name: Callable[[Any], str]) -> dict[OperationType, dict[str, TokenRule]]:
    """Each root field's token rule, by operation type and GraphQL field name (at schema build)."""
    from strawberry.types.base import get_object_definition

    from domain.identity.api_tokens import valid_scopes

    known = valid_scopes()
    rules: dict[OperationType, dict[str, TokenRule]] = {}
    for operation, root in roots.items():
        rules[operation] = {}
        definition = get_object_definition(root) if root is not None else None
        if definition is None:
            continue
        for field in definition.fields:
            rule = _field_rule(definition.name, field)
            for clause in rule:
                if clause - known:
                    raise ValueError(f"{definition.name}.{field.python_name}: unknown token scopes "
                                     f"{sorted(clause - known)}")
            rules[operation][graphql_name(field)] = rule
    return rules


def allows(rule: TokenRule, scopes: frozenset[str]) -> bool:
    return bool(rule) and all(clause & scopes for clause in rule)


def _root_fields(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode],
                 seen: set[str]) -> Iterable[str]:
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            yield sel.name.value
        elif isinstance(sel, InlineFragmentNode):
            yield from _root_fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
            seen.add(sel.name.value)  # a cycle is refused by validation; never loop on one here
            fragment = fragments.get(sel.name.value)
            if fragment is not None:
                yield from _root_fields(fragment.selection_set, fragments, seen)


def scope_refusal(actor: Actor, document: DocumentNode, operation_name: str | None,
                  rules: Mapping[OperationType, Mapping[str, TokenRule]]) -> GraphQLError | None:
    """For an API-token caller: the refusal if any root field the operation selects is not allowed
    by the token's scopes (every operation in the document when none is named), else None."""
    if actor.kind is not ActorKind.API_TOKEN:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    refused: dict[str, TokenRule] = {}
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (definition.name is None or definition.name.value != operation_name):
            continue
        table = rules.get(definition.operation, {})
        for name in _root_fields(definition.selection_set, fragments, set()):
            rule = table.get(name, ())
            if name != "__typename" and not allows(rule, actor.scopes):
                refused[name] = rule
    if not refused:
        return None
    needs = "; ".join(f"{name} {_needs(rule)}" for name, rule in refused.items())
    return GraphQLError(f"This API token's scopes do not allow {', '.join(refused)} ({needs}).",
                        extensions={"code": INSUFFICIENT_SCOPE})


def _needs(rule: TokenRule) -> str:
    if not rule:
        return "is not open to API tokens"
    return "needs " + " and ".join(" or ".join(sorted(clause)) for clause in rule)
