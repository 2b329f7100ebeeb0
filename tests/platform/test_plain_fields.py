"""The plain-field fast path (schema/plain_fields.py) answers as the generic executor does, and the
suite's check mode catches a difference."""

from __future__ import annotations

import itertools
from typing import NewType

import strawberry

from domain.shared.settings import Settings
from schema.root import api_schema

_counter = itertools.count()
Drifting = strawberry.scalar(NewType("Drifting", str), serialize=lambda v: f"{v}-{next(_counter)}",
                             parse_value=str)


@strawberry.type
class Row:
    name: str
    note: str | None
    drift: Drifting  # type: ignore[valid-type]
    must: str


@strawberry.type
class Query:
    @strawberry.field
    def rows(self) -> list[Row]:
        return [Row(name="a", note=None, drift="x", must="m"),
                Row(name="b", note="n", drift="y", must=None)]  # type: ignore[arg-type]


def schema(check: bool) -> strawberry.Schema:
    return api_schema(Settings(executor_check=check), query=Query)


async def test_plain_fields_answer_as_the_generic_executor_including_its_null_error() -> None:
    s = schema(check=False)
    assert ("Row", "name") in getattr(s.execution_context_class, "plan")  # noqa: B009
    result = await s.execute("{ rows { name note must } }")
    assert result.data is None  # a null in a non-null field nulls its non-null parents, as specified
    assert result.errors and result.errors[0].path == ["rows", 1, "must"]
    fine = await s.execute("{ rows { name note } }")
    assert fine.errors is None and fine.data == {"rows": [{"name": "a", "note": None}, {"name": "b", "note": "n"}]}


async def test_check_mode_fails_on_a_difference_between_the_two_paths() -> None:
    quiet = await schema(check=False).execute("{ rows { drift } }")
    assert quiet.errors is None
    checked = await schema(check=True).execute("{ rows { name drift } }")
    # The mismatch is an internal error (masked for the client) at the row holding the field.
    assert checked.data is None and checked.errors and checked.errors[0].path == ["rows", 0]
    assert checked.errors[0].extensions == {"code": "INTERNAL_SERVER_ERROR"}
    same = await schema(check=True).execute("{ rows { name note } }")
    assert same.errors is None
