"""Every root operation in the schema x every API-token scope (DESIGN.md rule 16: deny by default).

The operations are read from the built schema, so a new query, mutation or subscription joins the
matrix by itself. For each one and each scope, a token holding only that scope runs it over the
real server (subscriptions over a real WebSocket): where the field's declared scopes do not include
it, the answer is INSUFFICIENT_SCOPE with no data and the database is left exactly as it was; where
they do, it is not refused for scope or permission reasons (it may still fail on its sample input).

The declarations themselves are pinned independently: the fields open to the owner scopes are
listed here (read-only, no mutation), and a field open to a staff scope must require that same
permission.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationType,
    Undefined,
    get_named_type,
    is_composite_type,
)
from strawberry.types.base import get_object_definition

from domain.ib import network
from domain.identity import api_tokens
from domain.identity.permissions import PERMISSIONS
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from domain.shared.settings import Settings
from schema.permissions import TokenRule, allows
from schema.root import ApiSchema, build_schema
from tests.conftest import GraphQLClient
from tests.identity.helpers import register
from tests.identity.staff import make_staff
from tests.scopes.helpers import table_state
from tests.wsclient import graphql_ws

SCOPES = sorted(api_tokens.valid_scopes())
OWNER_SCOPES = {"profile.read", "ib.tree.read"}
# The only root fields an owner scope opens (all reads). Widening this list is a decision, not a drift.
OPEN_TO_OWNER_SCOPES: dict[str, set[str]] = {
    "Query.me": {"profile.read", "ib.tree.read"},
    **{f"Query.{name}": {"profile.read"} for name in (
        "myClient", "myLeverageRequests", "myWallets", "walletTransactions", "myPayments", "payment",
        "tradingAccount", "myTradingAccounts", "deals", "positions")},
    **{f"Subscription.{name}": {"profile.read"} for name in ("walletUpdated", "paymentUpdated",
                                                                       "tradingAccountStateUpdated")},
    **{f"Query.{name}": {"ib.tree.read"} for name in (
        "myIbProfile", "myIbTree", "myIbClients", "myIbClient", "myIbCommissions", "myIbPayouts",
        "myIbStatementCsv", "myIbStatementPdf", "myIbReferralLinks", "myIbDisputes", "myIbCommissionLine",
        "myIbCommissionLines",
        "myIbManagedLinks")},
}
# Codes a permission refusal carries: an allowed token must meet none of them.
REFUSAL_CODES = {"INSUFFICIENT_SCOPE", "FORBIDDEN", "UNAUTHENTICATED"}
ROOTS = {OperationType.QUERY: "query", OperationType.MUTATION: "mutation", OperationType.SUBSCRIPTION: "subscription"}
SCALAR_SAMPLES: dict[str, Any] = {
    "Int": 1, "Float": 1.5, "String": "x", "Boolean": False, "ID": "1", "Money": "1", "Decimal": "1",
    "DateTime": "2026-01-01T00:00:00+00:00", "Date": "2026-01-01", "JSON": {}, "Upload": None,
}


@dataclass(frozen=True)
class Operation:
    key: str  # "Mutation.exchange"
    kind: OperationType
    document: str
    variables: dict[str, Any]
    rule: TokenRule


def _sample(t: GraphQLInputType) -> Any:
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    assert isinstance(t, GraphQLScalarType), t
    if t.name not in SCALAR_SAMPLES:
        raise AssertionError(f"add a sample for the scalar {t.name} to SCALAR_SAMPLES")
    return SCALAR_SAMPLES[t.name]


def _required(field: Any) -> bool:
    return isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined


def _input(t: GraphQLInputType, depth: int = 0) -> Any:
    if isinstance(t, GraphQLNonNull):
        return _input(t.of_type, depth)
    if isinstance(t, GraphQLList):
        return [_input(t.of_type, depth)]
    if isinstance(t, GraphQLInputObjectType):
        assert depth < 8, t
        return {name: _input(f.type, depth + 1) for name, f in t.fields.items() if _required(f)}
    return _sample(t)


def _document(kind: OperationType, name: str, field: GraphQLField) -> tuple[str, dict[str, Any]]:
    params, args, variables = [], [], {}
    for i, (arg_name, arg) in enumerate(field.args.items()):
        if not _required(arg):
            continue
        params.append(f"$a{i}: {arg.type}")
        args.append(f"{arg_name}: $a{i}")
        variables[f"a{i}"] = _input(arg.type)
    selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
    head = f"{ROOTS[kind]} Probe" + (f"({', '.join(params)})" if params else "")
    call = name + (f"({', '.join(args)})" if args else "")
    return f"{head} {{ {call}{selection} }}", variables


def operations(schema: ApiSchema) -> list[Operation]:
    gql: GraphQLSchema = schema._schema
    roots: dict[OperationType, GraphQLObjectType | None] = {
        OperationType.QUERY: gql.query_type, OperationType.MUTATION: gql.mutation_type,
        OperationType.SUBSCRIPTION: gql.subscription_type}
    found = []
    for kind, root in roots.items():
        assert root is not None
        for name, field in root.fields.items():
            document, variables = _document(kind, name, field)
            found.append(Operation(f"{root.name}.{name}", kind, document, variables, schema.token_rules[kind][name]))
    return found


SCHEMA = build_schema(Settings())
OPERATIONS = operations(SCHEMA)


def _requires_of(schema: ApiSchema) -> dict[str, set[str]]:
    """The staff permissions each root field's permission classes require."""
    out: dict[str, set[str]] = {}
    for root in (schema.query, schema.mutation, schema.subscription):
        definition = get_object_definition(root, strict=True)
        for field in definition.fields:
            key = f"{definition.name}.{schema.config.name_converter.get_graphql_name(field)}"
            out[key] = {str(getattr(p, "permission", "")) for p in field.permission_classes} - {""}
    return out


def test_the_declarations_open_only_what_is_listed() -> None:
    assert len(OPERATIONS) > 100 and {op.kind for op in OPERATIONS} == set(ROOTS)
    requires = _requires_of(SCHEMA)
    open_to_owner: dict[str, set[str]] = {}
    for op in OPERATIONS:
        scopes = set().union(*op.rule) if op.rule else set()
        if scopes & OWNER_SCOPES:
            open_to_owner[op.key] = scopes & OWNER_SCOPES
        staff = scopes - OWNER_SCOPES
        # A staff scope opens only a field that requires that very permission of its caller.
        assert staff <= requires[op.key], (op.key, staff, requires[op.key])
        # Every field requiring a permission is open to a token holding it (and owner-scope fields to theirs).
        assert bool(op.rule) == bool(requires[op.key] or op.key in OPEN_TO_OWNER_SCOPES), op.key
    assert open_to_owner == OPEN_TO_OWNER_SCOPES
    assert not [key for key in open_to_owner if key.startswith("Mutation.")]


@dataclass
class Tokens:
    by_scopes: dict[frozenset[str], str]
    staff_id: int
    ib_id: int
    session_factory: Any
    settings: Any

    async def get(self, scopes: frozenset[str]) -> str:
        if scopes not in self.by_scopes:
            staff = bool(scopes - OWNER_SCOPES)
            assert not (staff and scopes & OWNER_SCOPES), scopes  # never needed by any declared rule
            if staff:
                actor = Actor(ActorKind.STAFF, user_id=self.staff_id, permissions=frozenset(PERMISSIONS),
                              stepped_up_at=time.time())
            else:
                actor = Actor(ActorKind.IB, user_id=self.ib_id, stepped_up_at=time.time())
            async with self.session_factory() as s, s.begin():
                made = await api_tokens.create(s, self.settings, actor, name="matrix", scopes=sorted(scopes),
                                               expires_in_days=1)
            self.by_scopes[scopes] = made.plaintext
        return self.by_scopes[scopes]


async def _tokens(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> Tokens:
    """Owners who may hold every scope: an administrator (all permissions, 2FA) and an approved IB who
    is also a registered client."""
    staff = await make_staff(http, session_factory, settings, ["administrator"])
    ib = int((await register(GraphQLClient(http)))["viewer"]["id"])

    async def approve(s: Any) -> None:
        await network.apply(s, system_actor("test"), ib)
        await network.approve(s, system_actor("test"), ib)

    await in_transaction(session_factory, approve)
    tokens = Tokens({}, staff.user_id, ib, session_factory, settings)
    for scope in SCOPES:
        await tokens.get(frozenset({scope}))
    return tokens


def _codes(body: dict[str, Any]) -> set[str]:
    return {str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []}


async def _gather(calls: list[Any], width: int = 8) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(calls), width):
        out += await asyncio.gather(*calls[i:i + width])
    return out


async def test_every_query_and_mutation_by_every_scope(http: httpx.AsyncClient, session_factory, settings) -> None:
    tokens = await _tokens(http, session_factory, settings)
    plain = [op for op in OPERATIONS if op.kind is not OperationType.SUBSCRIPTION]
    refused = [(op, s) for op in plain for s in SCOPES if not allows(op.rule, frozenset({s}))]
    allowed = [(op, frozenset({s})) for op in plain for s in SCOPES if allows(op.rule, frozenset({s}))]
    # A field needing two permissions at once (each clause one scope) is allowed to a token holding both.
    allowed += [(op, frozenset(sorted(c)[0] for c in op.rule)) for op in plain if len(op.rule) > 1]
    assert refused and allowed

    async def run(op: Operation, scopes: frozenset[str]) -> dict[str, Any]:
        return await GraphQLClient(http, await tokens.get(scopes))(op.document, op.variables, operationName="Probe")

    before = await table_state(session_factory)
    answers = await _gather([run(op, frozenset({s})) for op, s in refused])
    wrong = [(op.key, s, body) for (op, s), body in zip(refused, answers, strict=True)
             if body.get("data") is not None or _codes(body) != {"INSUFFICIENT_SCOPE"}]
    assert not wrong, wrong[:5]
    assert await table_state(session_factory) == before, "a refused operation changed the database"

    answers = await _gather([run(op, scopes) for op, scopes in allowed], width=4)
    wrong = [(op.key, ",".join(sorted(scopes)), body) for (op, scopes), body in zip(allowed, answers, strict=True)
             if _codes(body) & REFUSAL_CODES]
    assert not wrong, wrong[:5]


async def test_every_subscription_by_every_scope(http: httpx.AsyncClient, live_server, session_factory,
                                                 settings) -> None:
    tokens = await _tokens(http, session_factory, settings)
    subscriptions = [op for op in OPERATIONS if op.kind is OperationType.SUBSCRIPTION]

    async def errors_for(scope: str) -> dict[str, Any]:
        token = await tokens.get(frozenset({scope}))
        errors: dict[str, Any] = {}
        # Refusals come at once and an accepted subscription stays quiet: wait for as many refusals as this scope
        # should get (however slow a loaded machine is to send them), then 1.5 s of quiet for any more.
        expected = sum(not allows(op.rule, frozenset({scope})) for op in subscriptions)
        deadline = asyncio.get_running_loop().time() + 30
        async with graphql_ws(live_server.ws_url, payload={"authorization": f"Bearer {token}"}) as ws:
            for i, op in enumerate(subscriptions):
                await ws.subscribe(op.document, op.variables, op_id=str(i))
            try:
                while True:
                    left = deadline - asyncio.get_running_loop().time()
                    message = await ws.receive(timeout=max(0.1, left) if len(errors) < expected else 1.5)
                    if message["type"] == "error":
                        errors[message["id"]] = message["payload"]
            except TimeoutError:
                pass
        return errors

    answers = await _gather([errors_for(scope) for scope in SCOPES], width=len(SCOPES))
    for scope, errors in zip(SCOPES, answers, strict=True):
        for i, op in enumerate(subscriptions):
            got = errors.get(str(i))
            codes = {str((e.get("extensions") or {}).get("code")) for e in got or []}
            if allows(op.rule, frozenset({scope})):
                assert not codes & REFUSAL_CODES, (op.key, scope, json.dumps(got))
            else:
                assert codes == {"INSUFFICIENT_SCOPE"}, (op.key, scope, json.dumps(got))
