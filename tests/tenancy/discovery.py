"""Finds every query and mutation that takes an ID (directly or inside an input object)."""

from __future__ import annotations

from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
)


def _unwrap(t: GraphQLType) -> GraphQLType:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def _takes_id(t: GraphQLType, seen: set[str]) -> bool:
    t = _unwrap(t)
    name = getattr(t, "name", "")
    if name == "ID":
        return True
    if isinstance(t, GraphQLInputObjectType) and name not in seen:
        seen.add(name)
        return any(_takes_id(f.type, seen) for f in t.fields.values())
    return False


def fields_taking_ids(schema: GraphQLSchema) -> set[str]:
    found: set[str] = set()
    roots: list[GraphQLObjectType | None] = [schema.query_type, schema.mutation_type, schema.subscription_type]
    for root in roots:
        if root is None:
            continue
        for name, field in root.fields.items():
            if any(_takes_id(arg.type, set()) for arg in field.args.values()):
                found.add(f"{root.name}.{name}")
    return found
