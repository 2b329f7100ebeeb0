"""Every mutation declares the error codes its payload can carry, in its schema description, and the
test suite holds each to its declaration (tests/declared_errors.py, installed by tests/conftest.py)."""

from __future__ import annotations

import pytest
from graphql import build_schema

from domain.shared.settings import Settings
from schema.errors import declared_errors, declares_errors
from schema.root import build_schema as build_api_schema
from tests.declared_errors import undeclared


def test_every_mutation_declares_its_error_codes() -> None:
    schema = build_api_schema(Settings(introspection=True))._schema
    assert schema.mutation_type is not None
    missing = [name for name, field in schema.mutation_type.fields.items() if declared_errors(field.description) is None]
    assert missing == []


def test_a_declaration_names_only_known_codes() -> None:
    with pytest.raises(ValueError, match="NO_SUCH_CODE"):
        declares_errors("NO_SUCH_CODE")


def test_the_declaration_reads_back_from_the_description() -> None:
    assert declared_errors("Do it.\n\nError codes: `NOT_FOUND`, `VALIDATION_FAILED`.") == frozenset(
        {"NOT_FOUND", "VALIDATION_FAILED"})
    assert declared_errors("Error codes: none.") == frozenset()
    assert declared_errors("Do it.") is None


SDL = '''
type Query { a: Int }
type E { code: String }
type P { errors: [E!]! }
type Mutation {
  """Open.\n\nError codes: `NOT_FOUND`."""
  open: P
  """Close.\n\nError codes: none."""
  close: P
}
'''


@pytest.mark.parametrize("query, data, expected", [
    ("mutation { open { errors { code } } }", {"open": {"errors": [{"code": "NOT_FOUND"}]}}, []),
    ("mutation { open { errors { code } } }", {"open": {"errors": [{"code": "CONFLICT"}]}},
     ["open returned CONFLICT"]),
    ("mutation { x: close { errors { code } } }", {"x": {"errors": [{"code": "NOT_FOUND"}]}},
     ["close returned NOT_FOUND"]),
    ("query { a }", {"a": 1}, []),
])
def test_the_check_reports_a_code_the_mutation_does_not_declare(query: str, data: dict[str, object],
                                                                expected: list[str]) -> None:
    found = undeclared(build_schema(SDL), query, None, data)
    assert [f.split(",")[0] for f in found] == expected
