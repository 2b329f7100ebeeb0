"""The test-time check that a mutation returns only the error codes its schema description declares
(schema.errors.declares_errors): every GraphQL execution in the test process is looked at, and a
payload's `errors[].code` outside the declared set fails the test that caused it."""

from __future__ import annotations

import functools
from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLError, GraphQLSchema, OperationType, parse
from graphql.utilities import get_operation_ast

from schema.errors import declared_errors

VIOLATIONS: list[str] = []


@functools.lru_cache(maxsize=4096)
def _document(query: str) -> DocumentNode | None:
    try:
        return parse(query, no_location=True)
    except GraphQLError:
        return None


def undeclared(schema: GraphQLSchema, query: str, operation_name: str | None, data: dict[str, Any]) -> list[str]:
    """"<mutation> returned <CODE>" for each payload error code its mutation does not declare."""
    document = _document(query)
    operation = get_operation_ast(document, operation_name) if document is not None else None
    mutation_type = schema.mutation_type
    if operation is None or operation.operation is not OperationType.MUTATION or mutation_type is None:
        return []
    found: list[str] = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        name = selection.name.value
        field = mutation_type.fields.get(name)
        payload = data.get((selection.alias or selection.name).value)
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if field is None or not isinstance(errors, list):
            continue
        declared = declared_errors(field.description) or frozenset()
        found += [f"{name} returned {error['code']}, which it does not declare (schema.errors.declares_errors)"
                  for error in errors if isinstance(error, dict) and error.get("code") not in (None, *declared)]
    return found


def install() -> None:
    """Wrap the schema's execute (the HTTP view, sockets and direct calls all go through it)."""
    from schema.root import ApiSchema

    original = ApiSchema.execute
    if getattr(original, "checks_declared_errors", False):
        return

    async def execute(self: ApiSchema, query: str | None, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, query, *args, **kwargs)
        if query and isinstance(result.data, dict) and "mutation" in query:
            name = kwargs.get("operation_name", args[3] if len(args) > 3 else None)
            VIOLATIONS.extend(undeclared(self._schema, query, name, result.data))
        return result

    execute.checks_declared_errors = True  # type: ignore[attr-defined]
    ApiSchema.execute = execute  # type: ignore[method-assign, assignment]
