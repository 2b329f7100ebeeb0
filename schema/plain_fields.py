"""Plain leaf fields, resolved without graphql-core's generic per-field machinery.

Most of a page's fields are leaves read straight off an object (an id, an amount, a symbol): for
each, the stock executor builds a resolve info, calls strawberry's basic-field resolver, tests the
result for awaitability and dispatches on the type before serialising. For a field that is known at
schema build to be such a read (strawberry's basic field: no resolver, no permission or other
extension, no arguments) of a scalar or enum type, the plan is fixed: read the attribute, serialise
it. Anything unusual (a null for a non-null field, a value the scalar refuses) takes the generic
path, which produces the standard error. An object whose selection is all plain fields (a list
row: a deal, a wallet) is completed in one loop (`plain_row`), without a call per field. With
`check` on (the test suite) every plain field and row is also resolved by the generic path and
the results must be equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
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


def plain_row(row: Row, source: Any) -> dict[str, Any] | None:
    """The object's completed value, or None when one field must take the generic path."""
    out: dict[str, Any] = {}
    for response_name, step in row:
        value = resolve_plain(step, source)
        if value is Undefined:
            return None
        out[response_name] = value
    return out


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
