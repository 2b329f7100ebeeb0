"""The schema's execution path: error masking per request and the document cache."""

from __future__ import annotations

import asyncio
import time

import graphql
import pytest
import strawberry
from graphql import print_ast

from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from schema import limits
from schema.root import api_schema


@strawberry.type(name="Query")
class _Query:
    @strawberry.field
    async def fails(self) -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("db password is hunter2")

    @strawberry.field
    async def slow(self) -> str:
        await asyncio.sleep(0.05)
        return "ok"

    @strawberry.field
    def refused(self) -> str:
        raise DomainError("not allowed here")

    @strawberry.field
    def items(self, first: int = 10) -> list[str]:
        return ["x"] * min(first, 10)


async def test_an_internal_error_is_masked_while_other_requests_run() -> None:
    schema = api_schema(Settings(), query=_Query)

    # The failing request ends while the slow one is still running (a shared masking extension
    # would read the slow one's state and let the first error through as it is).
    failed, slow = await asyncio.gather(schema.execute("{ fails }"), schema.execute("{ slow }"))

    assert [e.message for e in failed.errors or []] == ["Unexpected error."]
    assert slow.data == {"slow": "ok"} and not slow.errors


async def test_public_errors_are_shown_and_internal_ones_masked_alone() -> None:
    schema = api_schema(Settings(), query=_Query)

    refused = await schema.execute("{ refused }")
    failed = await schema.execute("{ fails }")

    assert [e.message for e in refused.errors or []] == ["not allowed here"]
    assert [e.message for e in failed.errors or []] == ["Unexpected error."]


async def test_a_query_text_is_parsed_and_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = api_schema(Settings(max_query_depth=3), query=_Query)
    validated: list[str] = []
    validate = graphql.validate

    def counting(schema_, document, rules, **options):  # type: ignore[no-untyped-def]
        validated.append(print_ast(document))
        return validate(schema_, document, rules, **options)

    monkeypatch.setattr(limits, "validate", counting)
    first = await schema.execute("{ slow }")
    second = await schema.execute("{ slow }")
    wrong = [await schema.execute("{ nope }") for _ in range(2)]

    assert first.data == second.data == {"slow": "ok"}
    assert all(r.errors and "nope" in r.errors[0].message for r in wrong)
    assert len(validated) == 2  # each text once; its outcome, errors included, is reused


async def test_a_text_that_does_not_parse_is_reported_under_the_token_limit() -> None:
    schema = api_schema(Settings(max_tokens=20), query=_Query)

    broken = await schema.execute("{ slow ")
    too_long = await schema.execute("{ " + " ".join("slow" for _ in range(30)) + " }")

    assert broken.errors and "Syntax Error" in broken.errors[0].message
    assert too_long.errors and "token" in too_long.errors[0].message.lower()
    assert not schema.documents._entries  # neither is kept


async def test_fragments_that_double_at_every_level_are_refused_at_once() -> None:
    schema = api_schema(Settings(), query=_Query)
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 31))
    query = "query Bomb { ...F30 } fragment F0 on Query { slow } " + fragments

    started = time.perf_counter()
    result = await asyncio.wait_for(schema.execute(query), timeout=10)

    assert time.perf_counter() - started < 2
    assert result.errors and result.errors[0].extensions == {"code": "QUERY_TOO_COSTLY"}
    assert result.data is None


async def test_fragments_in_a_cycle_are_refused() -> None:
    schema = api_schema(Settings(), query=_Query)

    result = await schema.execute("query C { ...A } fragment A on Query { slow ...B } fragment B on Query { ...A }")

    assert result.errors and "Cannot spread fragment" in result.errors[0].message
    assert result.data is None


async def test_a_page_size_of_any_length_is_an_error_not_a_crash() -> None:
    schema = api_schema(Settings(), query=_Query)

    result = await schema.execute("{ items(first: " + "9" * 5000 + ") }")

    assert result.errors and result.data is None


@strawberry.type(name="Mutation")
class _Mutation:
    @strawberry.mutation
    def need(self, id: strawberry.ID, note: str) -> str:
        return f"{id}:{note}"


class _Ctx:
    request_id = "req-4711"


async def test_an_internal_error_has_its_own_code_and_the_request_id_to_quote() -> None:
    schema = api_schema(Settings(), query=_Query)
    failed = await schema.execute("{ fails }", context_value=_Ctx())
    [error] = failed.errors or []
    assert error.message == "Unexpected error." and "hunter2" not in str(error.formatted)
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-4711"}


async def test_a_null_or_missing_required_variable_says_so() -> None:
    schema = api_schema(Settings(), query=_Query, mutation=_Mutation)
    doc = "mutation($i: ID!, $n: String!) { need(id: $i, note: $n) }"
    nulled = await schema.execute(doc, variable_values={"i": None, "n": "x"})
    missing = await schema.execute(doc, variable_values={"i": "1"})
    for result, name in ((nulled, "$i"), (missing, "$n")):
        [error] = result.errors or []
        assert f"Variable '{name}'" in error.message and "non-null type" in error.message and "None" not in error.message, error.message
        assert error.extensions == {"code": "BAD_USER_INPUT"}
        assert result.data is None
