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
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Undefined

BASIC_RESOLVER = "_get_basic_result"  # strawberry's resolver of a basic field: getattr(source, python_name)

# (parent type, field) -> (attribute, leaf type, non-null)
Step = tuple[str, GraphQLLeafType, bool]
Plan = dict[tuple[str, str], Step]
# An all-plain selection: (response name, step) per field.
Row = list[tuple[str, Step]]


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


def row_steps(plan: Plan, parent: str, grouped_field_set: Mapping[str, Any]) -> Row | None:
    """The steps of a selection made only of plain fields without arguments, else None."""
    row: Row = []
    for response_name, field_details_list in grouped_field_set.items():
        node = field_details_list[0].node
        step = plan.get((parent, node.name.value))
        if step is None or node.arguments:
            return None
        row.append((response_name, step))
    return row


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
    for i, (_response_name, (attribute, leaf, non_null)) in enumerate(row):
        env[f"s{i}"] = leaf.coerce_output_value
        read = f"source.{attribute}" if attribute.isidentifier() else f"getattr(source, {attribute!r})"
        test, inline = _PASS_THROUGH.get(leaf), _INLINE.get(leaf.name)
        serialised = (f"(v if {test} else s{i}(v))" if test else inline.format(s=f"s{i}") if inline
                      else f"s{i}(v)")
        body.append(f"        v = {read}")
        if non_null:
            body += ["        if v is None: return None", f"        o{i} = {serialised}",
                     f"        if o{i} is None: return None"]
        else:
            body += [f"        o{i} = None if v is None else {serialised}",
                     f"        if o{i} is None and v is not None: return None"]
    body.append("    except Exception:  # the generic path raises the standard error")
    body.append("        return None")
    body.append("    return {" + ", ".join(f"{name!r}: o{i}" for i, (name, _) in enumerate(row)) + "}")
    exec(compile("\n".join(body), f"<plain row {len(row)} fields>", "exec"), env)  # noqa: S102
    function: RowFunction = env["row"]
    return function


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
