"""Plain leaf fields, resolved without graphql-core's generic per-field machinery.

Most of a page's fields are leaves read straight off an object (an id, an amount, a symbol): for
each, the stock executor builds a resolve info, calls strawberry's basic-field resolver, tests the
result for awaitability and dispatches on the type before serialising. For a field that is known at
schema build to be such a read (strawberry's basic field: no resolver, no permission or other
extension, no arguments) of a scalar or enum type, the plan is fixed: read the attribute, serialise
it. Anything unusual (a null for a non-null field, a value the scalar refuses) takes the generic
path, which produces the standard error. An object whose selection is all plain fields (a list
row: a deal, a wallet) is completed by one function compiled for that selection (`compiled_row`):
attribute reads and the common scalars' tests inline, one call per row instead of several per
field; a list of such objects is completed in one loop by the executor (schema/root.py). With
`check` on (the test suite) every plain field and row is also resolved by the generic path and
the results must be equal.

A row may nest objects (`nested_fields`): a basic field of an object type or a list of one (an
edge's node, a connection's page info), and a resolver field declaring `prefetched(attribute)`:
a list page that read the field's value with the page (one statement for every row's wallets)
leaves it in `attribute`, and the row reads it there; None there means "not read", and the
field's resolver runs. Such a field's permission classes must not depend on the object (a
`Declared` permission reads only the caller): the executor checks them once per field and
operation, and when they refuse, every object takes the generic path, which refuses each as before.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Undefined
from strawberry.permission import PermissionExtension

BASIC_RESOLVER = "_get_basic_result"  # strawberry's resolver of a basic field: getattr(source, python_name)

PREFETCHED = "forexcrm.prefetched"  # strawberry field metadata: the attribute a page may have filled

# (parent type, field) -> (attribute, leaf type, non-null)
Step = tuple[str, GraphQLLeafType, bool]
Plan = dict[tuple[str, str], Step]


class Nested(NamedTuple):
    """An object field read off its parent (schema-wide; a selection of it is compiled per operation)."""

    attribute: str
    item: GraphQLObjectType
    is_list: bool
    non_null: bool
    items_non_null: bool
    prefetched: bool  # None in the attribute: not read with the page, the resolver decides
    permissions: tuple[Any, ...]  # permission instances, object-independent: checked once per operation


NestedPlan = dict[tuple[str, str], Nested]


class NestedStep(NamedTuple):
    """A nested field in a compiled row: its attribute and the compiled row of its selection."""

    attribute: str
    row: Callable[[Any], dict[str, Any] | None]
    origin: type | None  # the item's class: an exact match needs no is_type_of call
    is_type_of: Callable[[Any, Any], Any] | None
    is_list: bool
    non_null: bool
    items_non_null: bool
    prefetched: bool


# An all-plain selection: (response name, step) per field.
Row = Sequence[tuple[str, Step | NestedStep]]


def prefetched(attribute: str) -> dict[str, str]:
    """Metadata for a resolver field (`strawberry.field(metadata=prefetched("prefetched_wallets"))`)
    whose value a list page may read with the page and leave in `attribute` (None: not read). The
    resolver answers that value when it is set (ClientSummary.wallets); check mode compares."""
    return {PREFETCHED: attribute}


def plain_fields(schema: GraphQLSchema) -> Plan:
    plan: Plan = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if (definition is None or not definition.is_basic_field or field.args
                    or getattr(field.resolve, "__name__", "") != BASIC_RESOLVER):
                continue
            non_null = is_non_null_type(field.type)
            inner = field.type.of_type if non_null else field.type  # type: ignore[attr-defined]
            if is_leaf_type(inner):
                plan[(type_.name, name)] = (definition.python_name, inner, non_null)
    return plan


def nested_fields(schema: GraphQLSchema) -> NestedPlan:
    """Every object field a compiled row may read off its parent. A field declaring `prefetched` that
    cannot be read so (arguments, another extension, a permission depending on the object) fails
    the schema's build: the declaration would be silently ignored otherwise."""
    plan: NestedPlan = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if definition is None:
                continue
            attribute = (definition.metadata or {}).get(PREFETCHED)
            basic = definition.is_basic_field and getattr(field.resolve, "__name__", "") == BASIC_RESOLVER
            if not basic and attribute is None:
                continue
            shape = _object_shape(field.type)
            if attribute is not None:
                permissions = _object_independent(definition)
                if shape is None or field.args or permissions is None:
                    raise TypeError(f"{type_.name}.{name}: a prefetched field must be an object or a list of "
                                    "objects, without arguments, with only permission classes that do not "
                                    "depend on the object (object_independent)")
                plan[(type_.name, name)] = Nested(attribute, *shape, True, permissions)
            elif shape is not None and not field.args and not definition.extensions:
                plan[(type_.name, name)] = Nested(definition.python_name, *shape, False, ())
    return plan


def _object_shape(type_: Any) -> tuple[GraphQLObjectType, bool, bool, bool] | None:
    """(item type, is list, non-null, items non-null) for an object or a flat list of objects."""
    non_null = is_non_null_type(type_)
    inner = type_.of_type if non_null else type_
    items_non_null = False
    is_list = isinstance(inner, GraphQLList)
    if is_list:
        items_non_null = is_non_null_type(inner.of_type)
        inner = inner.of_type.of_type if items_non_null else inner.of_type
    return (inner, is_list, non_null, items_non_null) if isinstance(inner, GraphQLObjectType) else None


def _object_independent(definition: Any) -> tuple[Any, ...] | None:
    permissions: list[Any] = []
    for extension in definition.extensions:
        if not isinstance(extension, PermissionExtension) or extension.fail_silently:
            return None
        if not all(getattr(p, "object_independent", False) for p in extension.permissions):
            return None
        permissions += extension.permissions
    return tuple(permissions)


class Once(NamedTuple):
    """A resolver field whose only extension is its permission check, every permission class
    object-independent: the executor decides it once per field and operation (`decide`) and, when
    allowed, runs `unchecked` (strawberry's resolver for the field without that extension) for every
    object; otherwise `checked` (the field's own resolver), which refuses each object as before."""

    definition: Any  # the strawberry field
    permissions: tuple[Any, ...]
    checked: Callable[..., Any]
    unchecked: Callable[..., Any]


OncePlan = dict[tuple[str, str], Once]


def checked_once(schema: GraphQLSchema, converter: Any, roots: Sequence[str]) -> OncePlan:
    """Every resolver field (not on a root type) whose permission can be checked once per operation."""
    plan: OncePlan = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__") or type_.name in roots:
            continue
        for name, field in type_.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if definition is None or definition.base_resolver is None or not definition.extensions:
                continue
            permissions = _object_independent(definition)
            if not permissions or field.resolve is None:
                continue
            bare = copy.copy(definition)
            bare.extensions = []
            plan[(type_.name, name)] = Once(definition, permissions, field.resolve, converter.from_resolver(bare))
    return plan


def decide(permissions: Sequence[Any], info: Any) -> bool:
    """Object-independent permissions for one field and operation: True only when every one answers
    True (a refusal or an error: False, and the field's own resolver refuses each object as before)."""
    for permission in permissions:
        try:
            allowed = permission.has_permission(None, info)
        except Exception:
            return False
        if allowed is not True:
            if inspect.iscoroutine(allowed):
                allowed.close()
            return False
    return True


RowFunction = Callable[[Any], "dict[str, Any] | None"]

# The built-in scalars' serialisers reduced to the test that passes a value through unchanged (what
# a resolver almost always hands them); any other value goes to the scalar's own serialiser.
_PASS_THROUGH: dict[Any, str] = {
    GraphQLString: "type(v) is str",
    GraphQLID: "type(v) is str",
    GraphQLInt: "type(v) is int and -2147483648 <= v <= 2147483647",
    GraphQLBoolean: "(v is True or v is False)",
}
# Our decimal scalars (schema/scalars.py) written inline for a finite Decimal exactly as
# domain.shared.money's money_text and decimal_text write it (anything else goes to the serialiser;
# the test suite's check mode compares every row with the generic path).
_INLINE: dict[str, str] = {
    "Money": "(format(v if v else abs(v), 'f') if type(v) is Decimal and v.is_finite() else {s}(v))",
    "Decimal": "(format(n, 'f') if type(v) is Decimal and v.is_finite() and (n := v.normalize()) else {s}(v))",
}


def compiled_row(row: Row) -> RowFunction:
    """A function completing an object with this all-plain selection: its output dict, or None when
    one field must take the generic path (as `resolve_plain` decides per field)."""
    return _compile(tuple(row))


@functools.lru_cache(maxsize=4096)  # one per selection shape; the document cache bounds the shapes
def _compile(row: tuple[tuple[str, Step], ...]) -> RowFunction:
    env: dict[str, Any] = {"Decimal": Decimal}
    body = ["def row(source):", "    try:"]
    for i, (_response_name, step) in enumerate(row):
        if isinstance(step, NestedStep):
            body += _nested(i, step, env)
            continue
        attribute, leaf, non_null = step
        env[f"s{i}"] = leaf.coerce_output_value
        read = f"source.{attribute}" if attribute.isidentifier() else f"getattr(source, {attribute!r})"
        test, inline = _PASS_THROUGH.get(leaf), _INLINE.get(leaf.name)
        names = _enum_names(leaf)
        if names is not None:  # a strawberry enum member to its name by one lookup, not a scan of the values
            env[f"w{i}"], env[f"e{i}"] = names
            inline = f"(n if type(v) is w{i} and (n := e{i}.get(v)) is not None else {{s}}(v))"
        serialised = (f"(v if {test} else s{i}(v))" if test else inline.format(s=f"s{i}") if inline
                      else f"s{i}(v)")
        body.append(f"        v = {read}")
        if non_null:
            body += ["        if v is None: return None", f"        o{i} = {serialised}",
                     f"        if o{i} is None: return None"]
        else:
            body += [f"        o{i} = None if v is None else {serialised}",
                     f"        if o{i} is None and v is not None: return None"]
    body.append("        pass  # a selection left empty by @skip/@include still makes a valid body")
    body.append("    except Exception:  # the generic path raises the standard error")
    body.append("        return None")
    body.append("    return {" + ", ".join(f"{name!r}: o{i}" for i, (name, _) in enumerate(row)) + "}")
    exec(compile("\n".join(body), f"<plain row {len(row)} fields>", "exec"), env)  # noqa: S102
    function: RowFunction = env["row"]
    return function


def _enum_names(leaf: GraphQLLeafType) -> tuple[type, dict[Any, str]] | None:
    """(enum class, member -> GraphQL name) for strawberry's enum type, whose serialiser looks a
    member up by comparing it with every value in turn: the first name whose value it equals."""
    wrapped: Any = getattr(leaf, "wrapped_cls", None)
    values = getattr(leaf, "values", None)
    if not (isinstance(wrapped, type) and issubclass(wrapped, Enum)) or not isinstance(values, dict):
        return None
    names: dict[Any, str] = {}
    for member in wrapped:
        name = next((n for n, v in values.items() if member.value == v.value), None)
        if name is not None:
            names[member] = name
    return wrapped, names


def _nested(i: int, step: NestedStep, env: dict[str, Any]) -> list[str]:
    """Lines completing a nested object (or list of them) into o{i}; `return None` hands the whole
    row to the generic path (a null it must report, an object it must type-check, not prefetched)."""
    env[f"r{i}"], env[f"c{i}"], env[f"t{i}"] = step.row, step.origin, step.is_type_of
    read = f"source.{step.attribute}" if step.attribute.isidentifier() else f"getattr(source, {step.attribute!r})"
    check = "" if step.is_type_of is None else f"type(x) is not c{i} and t{i}(x, None) is not True"
    lines = [f"        v = {read}", "        if v is None:",
             "            return None" if step.prefetched or step.non_null else f"            o{i} = None",
             "        else:"]
    if step.is_list:
        lines += ["            if type(v) is not list: return None", f"            o{i} = []",
                  "            for x in v:", "                if x is None:",
                  "                    return None" if step.items_non_null else
                  f"                    o{i}.append(None); continue"]
        if check:
            lines.append(f"                if {check}: return None")
        lines += [f"                y = r{i}(x)", "                if y is None: return None",
                  f"                o{i}.append(y)"]
    else:
        lines.append("            x = v")
        if check:
            lines.append(f"            if {check}: return None")
        lines += [f"            o{i} = r{i}(x)", f"            if o{i} is None: return None"]
    return lines


def resolve_plain(step: Step, source: Any) -> Any:
    """The field's output value, or Undefined when the generic path must decide (null for a non-null
    field, a value the type will not serialise: the generic path raises the standard error)."""
    attribute, leaf, non_null = step
    value = getattr(source, attribute, Undefined)
    if value is None:
        return Undefined if non_null else None
    if value is Undefined:
        return Undefined
    try:
        out = leaf.coerce_output_value(value)
    except Exception:
        return Undefined
    return Undefined if out is None else out
