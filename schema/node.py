"""Relay object identification: the `Node` interface, opaque global ids and `node`/`nodes`.

A global id is strawberry's relay encoding, base64("<GraphQL type name>:<database key>"), so a
client cache can key every object by its id alone. Each Node type registers a loader with
`node_type`; the loader applies the same ownership and permission rules as the type's own field
and answers None for anything the caller may not see (never "forbidden": existence never leaks).

Id arguments accept a global id of the expected type(s) and, until 2027-06-30, the bare database
id (`key_of`); anything else is a typed INVALID_ID error.
"""

from __future__ import annotations

import asyncio
import binascii
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import strawberry
from strawberry.relay import from_base64, to_base64
from strawberry.types import Info

from domain.shared.errors import DomainError, InvalidId, TooManyIds
from schema.context import Context
from schema.errors import PublicError
from schema.permissions import IsAuthenticated

MAX_NODES = 100
RAW_ID_REMOVAL = "2027-06-30"
# Appended to the description of every id argument that still takes a bare database id.
RAW_ID_NOTE = (f"A global id (`Node.id`); a bare database id is still accepted but deprecated "
               f"(removal {RAW_ID_REMOVAL}).")

DATABASE_ID_DOC = "The bare database id, for clients that keyed this object by it before global ids."


def bare_id_deprecation(use: str) -> str:
    """The deprecation reason of a field that carries another object's bare database id, kept beside `use`
    (the field carrying its global id) until bare ids go."""
    return f"A bare database id: use `{use}` (a global id). Removal on {RAW_ID_REMOVAL}."


# An id argument in transition: a global id, or (deprecated) the bare database id.
AnyId = Annotated[strawberry.ID, strawberry.argument(description=RAW_ID_NOTE)]

NodeLoader = Callable[[Context, Sequence[int]], Awaitable[Sequence[Any]]]
NODE_LOADERS: dict[str, NodeLoader] = {}


@strawberry.interface(description="An object with a global id: `node(id:)` fetches it again, caches key by it.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id, stable across requests.")


def global_id(type_name: str, key: int | str) -> strawberry.ID:
    return strawberry.ID(to_base64(type_name, key))


def optional_global_id(type_name: str, key: int | str | None) -> strawberry.ID | None:
    return None if key is None else global_id(type_name, key)


def decode(value: str) -> tuple[str, int] | None:
    """(type name, database key) of a well-formed global id, else None."""
    try:
        type_name, key = from_base64(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not key.isdigit() or len(key) > 18 or to_base64(type_name, key) != value:
        return None  # only the canonical spelling: one object, one id
    return type_name, int(key)


def key_of(value: object, *types: str, field: str = "id", raw: bool = True) -> int:
    """The database key behind an id argument that must name one of `types`.

    `raw`: a bare database id is accepted too (deprecated, removal 2027-06-30)."""
    text = str(value)
    if raw and text.isdigit() and len(text) <= 18:
        return int(text)
    found = decode(text)
    if found is None or found[0] not in types:
        raise InvalidId(f"not a {' or '.join(types)} id", field=field)
    return found[1]


# Arguments that name a Node from a context whose own types are not Nodes yet (risk, IB, compliance):
# they take that Node's global id too, so an id read from one part of the schema works in another.
REFERENCED_TYPES: dict[str, tuple[str, ...]] = {
    "clientId": ("Client360", "ClientSummary", "MyClient"),
    "accountId": ("TradingAccount",),
    "serverId": ("TradingServer",),
    "planId": ("IbPlan",),
}


def referenced_key(value: object, error: type[DomainError], field: str) -> int:
    """The database key behind a `clientId`/`accountId`-style argument: a bare database id or the
    global id of a type in REFERENCED_TYPES[field]; anything else is `error` (not found, no leak)."""
    text = str(value)
    if text.isdigit() and len(text) <= 18:
        return int(text)
    found = decode(text)
    if found is None or found[0] not in REFERENCED_TYPES.get(field, ()):
        raise error("not found", field=field)
    return found[1]


def query_key(value: object, *types: str, field: str = "id") -> int:
    """`key_of` for a query's argument: a malformed id is a top-level INVALID_ID error."""
    try:
        return key_of(value, *types, field=field)
    except InvalidId as exc:
        raise PublicError(f"Not a {' or '.join(types)} id.", exc.code) from None


def node_type(*type_names: str) -> Callable[[NodeLoader], NodeLoader]:
    """Decorator: `@node_type("Wallet")` on `async def load(ctx, keys) -> [Wallet | None per key]`.
    The loader answers None for a key the caller may not see, with the type's own rules."""

    def wrap(fn: NodeLoader) -> NodeLoader:
        for name in type_names:
            if name in NODE_LOADERS:
                raise ValueError(f"node type {name} registered twice")
            NODE_LOADERS[name] = fn
        return fn

    return wrap


def _parse(value: str) -> tuple[str, int]:
    found = decode(value)
    if found is None or found[0] not in NODE_LOADERS:
        raise PublicError("Not a valid global id.", InvalidId.code)
    return found


async def resolve_nodes(ctx: Context, ids: Sequence[str]) -> list[Any]:
    """One loader call per type however many ids name it; results in the order asked."""
    parsed = [_parse(str(i)) for i in ids]
    by_type: dict[str, list[int]] = defaultdict(list)
    for type_name, key in parsed:
        if key not in by_type[type_name]:
            by_type[type_name].append(key)
    names = list(by_type)
    answers = await asyncio.gather(*(NODE_LOADERS[n](ctx, by_type[n]) for n in names))
    found = {(n, k): obj for n, objs in zip(names, answers, strict=True) for k, obj in zip(by_type[n], objs,
                                                                                           strict=True)}
    return [found[p] for p in parsed]


@strawberry.type
class NodeQueries:
    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Any object by its global id; null when it does not exist or is not yours to see. "
                                  "A malformed id is an INVALID_ID error.")
    async def node(self, info: Info[Context, Any], id: strawberry.ID) -> Node | None:
        found: Node | None = (await resolve_nodes(info.context, [id]))[0]
        return found

    @strawberry.field(permission_classes=[IsAuthenticated],
                      description=f"Several objects by global id (at most {MAX_NODES}: TOO_MANY_IDS), in the order "
                                  "asked; null for each that does not exist or is not yours to see. One query per "
                                  "type, however many ids.")
    async def nodes(self, info: Info[Context, Any], ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise PublicError(f"At most {MAX_NODES} ids at once.", TooManyIds.code)
        return await resolve_nodes(info.context, ids)
