"""The scope check itself: a root field reached through fragments, aliases or another operation of the
same document is still checked, and a schema whose root field declares no scopes does not build."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import parse
from strawberry.permission import BasePermission

from domain.shared.actor import Actor, ActorKind
from domain.shared.settings import Settings
from schema.permissions import IsAuthenticated, Requires, scope_refusal
from schema.root import api_schema, build_schema

RULES = build_schema(Settings()).token_rules
PROFILE = Actor(ActorKind.API_TOKEN, user_id=1, token_id=1, scopes=frozenset({"profile.read"}))


def refused(query: str, operation: str | None = None, actor: Actor = PROFILE) -> str | None:
    error = scope_refusal(actor, parse(query), operation, RULES)
    return None if error is None else str((error.extensions or {}).get("code"))


@pytest.mark.parametrize("query", [
    "mutation { exchange(input: {quoteId: \"1\", idempotencyKey: \"k\"}) { errors { code } } }",
    "query { myWallets { balance } sessions: mySessions { nodes { id } } }",  # an alias changes nothing
    "query { ...F } fragment F on Query { myWallets { balance } ... on Query { myApiTokens { nodes { id } } } }",
    "query { ... on Query { ... on Query { staffUsers { nodes { id } } } } }",
    "query { __typename ...F } fragment F on Query { ...G } fragment G on Query { auditEvents { nodes { id } } }",
    "subscription { notifications { kind } }",
    "{ serverTime }",  # public fields are not open to tokens either
])
def test_a_refused_root_field_is_found_however_it_is_written(query: str) -> None:
    assert refused(query) == "INSUFFICIENT_SCOPE"


def test_the_operation_run_is_the_one_checked() -> None:
    document = "query A { myWallets { balance } } mutation B { logoutEverywhere { ok } }"
    assert refused(document, "A") is None
    assert refused(document, "B") == "INSUFFICIENT_SCOPE"
    assert refused(document, None) == "INSUFFICIENT_SCOPE"  # unnamed: every operation must pass
    assert refused("query { __typename myWallets { balance } w: myWallets { currency } }") is None


def test_sessions_are_not_checked_and_staff_scopes_follow_requires() -> None:
    client = Actor(ActorKind.CLIENT, user_id=1)
    assert refused("mutation { logoutEverywhere { ok } }", actor=client) is None
    audit = Actor(ActorKind.API_TOKEN, user_id=1, token_id=2, scopes=frozenset({"audit.read"}))
    assert refused("{ auditEvents { nodes { id } } }", actor=audit) is None
    assert refused("{ auditEvents { nodes { id } } myClient { id } }", actor=audit) == "INSUFFICIENT_SCOPE"
    both = Actor(ActorKind.API_TOKEN, user_id=1, token_id=3, scopes=frozenset({"clients.read"}))
    assert refused("{ searchCommunications { nodes { id } } }", actor=both) == "INSUFFICIENT_SCOPE"
    assert refused("{ searchCommunications { nodes { id } } }",
                   actor=Actor(ActorKind.API_TOKEN, scopes=frozenset({"clients.read", "clients.notes"}))) is None


class Undeclared(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return True


def test_a_root_field_whose_permission_declares_no_scopes_fails_the_build() -> None:
    @strawberry.type
    class Query:
        @strawberry.field(permission_classes=[Undeclared])
        def thing(self) -> int:
            return 1

    with pytest.raises(TypeError, match=r"Query\.thing"):
        api_schema(Settings(), query=Query)


def test_an_unknown_scope_fails_at_declaration() -> None:
    with pytest.raises(ValueError, match=r"profile\.raed"):
        IsAuthenticated.or_token("profile.raed")
    with pytest.raises(ValueError, match=r"audit\.raed"):
        Requires("audit.raed")
