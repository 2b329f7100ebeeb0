"""The plain-field fast path (schema/plain_fields.py) answers as the generic executor does, and the
suite's check mode catches a difference."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any, NewType

import pytest
import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.shared.money import decimal_text, money_text
from domain.shared.settings import Settings
from schema.permissions import Declared
from schema.plain_fields import compiled_row, plain_fields, prefetched
from schema.root import api_schema
from schema.scalars import Money

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


@strawberry.type
class Amounts:
    amount: Money  # type: ignore[valid-type]
    lots: Decimal
    count: int
    flag: bool
    key: strawberry.ID
    maybe: Money | None  # type: ignore[valid-type]


@strawberry.type
class AmountsQuery:
    @strawberry.field
    def amounts(self) -> list[Amounts]:
        return list(_AMOUNTS)


_AMOUNTS: list[Amounts] = []
_FIELDS = "{ amounts { amount lots count flag key maybe } }"


def _expected(a: Amounts) -> dict[str, object]:
    return {"amount": money_text(a.amount), "lots": decimal_text(a.lots), "count": a.count, "flag": a.flag,
            "key": str(a.key), "maybe": None if a.maybe is None else money_text(a.maybe)}


_finite = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-10**20, max_value=10**20)


@given(rows=st.lists(st.builds(Amounts, amount=_finite, lots=_finite, count=st.integers(-2**31, 2**31 - 1),
                               flag=st.booleans(), key=st.text(max_size=5).map(strawberry.ID),
                               maybe=st.none() | _finite), max_size=5))
@settings(max_examples=150, deadline=None)
def test_compiled_rows_write_every_value_as_the_scalars_do(rows: list[Amounts]) -> None:
    """Zero, negative zero, exponents and long fractions included: the inline forms of Money and
    Decimal agree with money_text and decimal_text, and the generic path agrees with both."""
    _AMOUNTS[:] = rows
    for check in (False, True):
        result = asyncio.run(api_schema(Settings(executor_check=check), query=AmountsQuery).execute(_FIELDS))
        assert result.errors is None, result.errors
        assert result.data == {"amounts": [_expected(a) for a in rows]}


async def test_a_value_the_scalar_refuses_gets_the_standard_error_in_a_list() -> None:
    _AMOUNTS[:] = [Amounts(amount=Decimal("1.00"), lots=Decimal(1), count=1, flag=True, key=strawberry.ID("a"),
                           maybe=None),
                   Amounts(amount=Decimal("NaN"), lots=Decimal(1), count=2**40, flag=True, key=strawberry.ID("b"),
                           maybe=None)]
    for check in (False, True):
        result = await api_schema(Settings(executor_check=check), query=AmountsQuery).execute(_FIELDS)
        assert result.data is None and result.errors
        assert result.errors[0].path in (["amounts", 1, "amount"], ["amounts", 1, "count"])


def test_one_compiled_function_per_selection_shape() -> None:
    plan = plain_fields(api_schema(Settings(), query=AmountsQuery)._schema)
    row = [("amount", plan[("Amounts", "amount")]), ("n", plan[("Amounts", "count")])]
    assert compiled_row(row) is compiled_row(list(row))
    one = Amounts(amount=Decimal("0E-8"), lots=Decimal(0), count=3, flag=False, key=strawberry.ID("k"), maybe=None)
    assert compiled_row(row)(one) == {"amount": "0.00000000", "n": 3}
    assert compiled_row(row)(object()) is None  # an attribute missing: the generic path decides


@strawberry.type
class Mixed:
    name: str
    note: str | None

    @strawberry.field
    async def later(self) -> str:
        return self.name.upper()

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError("no")


@strawberry.type
class MixedQuery:
    @strawberry.field
    def mixed(self) -> list[Mixed]:
        return [Mixed(name="a", note=None), Mixed(name="b", note="n")]


async def test_plain_fields_beside_resolvers_keep_the_selection_order_and_errors_once() -> None:
    for check in (False, True):
        s = api_schema(Settings(executor_check=check), query=MixedQuery)
        result = await s.execute("{ mixed { later name x: note broken } }")
        assert result.data == {"mixed": [{"later": "A", "name": "a", "x": None, "broken": None},
                                         {"later": "B", "name": "b", "x": "n", "broken": None}]}
        assert list(result.data["mixed"][0]) == ["later", "name", "x", "broken"]
        assert result.errors is not None and [e.path for e in result.errors] == [["mixed", 0, "broken"],
                                                                                   ["mixed", 1, "broken"]]


# Nested objects in compiled rows: basic object fields and prefetched lists whose permissions do not
# depend on the object (checked once per field and operation).


class _Allowed(Declared):
    """Object-independent: the caller's flag, counted per call."""

    object_independent = True
    message = "You do not have permission to do this."
    error_extensions = {"code": "FORBIDDEN"}
    calls = 0

    def has_permission(self, source: Any, info: strawberry.Info[Any, Any], **kwargs: Any) -> bool:
        type(self).calls += 1
        return bool(info.context["allowed"])


class _PerObject(_Allowed):
    object_independent = False


@strawberry.type
class Coin:
    currency: str
    amount: Money  # type: ignore[valid-type]
    drift: Drifting | None = None  # type: ignore[valid-type]


@strawberry.type
class Holder:
    name: str
    best: Coin | None
    prefetched_coins: strawberry.Private[list[Coin] | None] = None

    @strawberry.field(permission_classes=[_Allowed], metadata=prefetched("prefetched_coins"))
    def coins(self) -> list[Coin] | None:
        if self.prefetched_coins is not None:  # the declared contract: what was read with the page
            return self.prefetched_coins
        return [Coin(currency="XXX", amount=Decimal("9.00"))]  # else what a loader would read


def _holders() -> list[Holder]:
    return [Holder(name="a", best=Coin(currency="USD", amount=Decimal("1.50")),
                   prefetched_coins=[Coin(currency="USD", amount=Decimal("1.50")),
                                     Coin(currency="EUR", amount=Decimal("-0.00"))]),
            Holder(name="b", best=None, prefetched_coins=[]),
            Holder(name="c", best=None, prefetched_coins=None)]


@strawberry.type
class HolderQuery:
    @strawberry.field
    def holders(self) -> list[Holder]:
        return _holders()


_HOLDERS = "{ holders { name best { currency amount } coins { currency amount } } }"
_EXPECTED: list[dict[str, Any]] = [{"name": "a", "best": {"currency": "USD", "amount": "1.50"},
              "coins": [{"currency": "USD", "amount": "1.50"}, {"currency": "EUR", "amount": "0.00"}]},
             {"name": "b", "best": None, "coins": []},
             {"name": "c", "best": None, "coins": [{"currency": "XXX", "amount": "9.00"}]}]


def _rows_compiled(s: strawberry.Schema) -> bool:
    """Whether the executor's plan reads Holder.coins off the object (its prefetched attribute)."""
    nested = getattr(s.execution_context_class, "nested")  # noqa: B009
    return bool(nested[("Holder", "coins")].prefetched and nested[("Holder", "best")].attribute == "best")


async def test_nested_objects_and_prefetched_lists_answer_as_the_generic_executor() -> None:
    for check in (False, True):
        s = api_schema(Settings(executor_check=check), query=HolderQuery)
        assert _rows_compiled(s)
        result = await s.execute(_HOLDERS, context_value={"allowed": True})
        assert result.errors is None, result.errors
        assert result.data == {"holders": _EXPECTED}  # "c" had nothing prefetched: its resolver ran


async def test_an_object_independent_permission_is_checked_once_per_operation_when_it_allows() -> None:
    s = api_schema(Settings(executor_check=False), query=HolderQuery)
    _Allowed.calls = 0
    result = await s.execute(_HOLDERS, context_value={"allowed": True})
    assert result.errors is None
    # Once for the operation: the compiled rows and "c" (nothing prefetched: its row takes the generic
    # path) share the decision (schema/root.py `_resolve_once`).
    assert _Allowed.calls == 1
    _Allowed.calls = 0
    await s.execute("{ holders { coins { currency } } }", context_value={"allowed": True})
    assert _Allowed.calls == 1


async def test_a_refused_permission_gives_each_object_its_error_as_the_generic_executor_does() -> None:
    for check in (False, True):
        s = api_schema(Settings(executor_check=check), query=HolderQuery)
        _Allowed.calls = 0
        result = await s.execute(_HOLDERS, context_value={"allowed": False})
        assert result.data == {"holders": [{**h, "coins": None} for h in _EXPECTED]}
        assert result.errors is not None
        assert [e.path for e in result.errors] == [["holders", i, "coins"] for i in range(3)]
        assert {e.extensions["code"] for e in result.errors if e.extensions} == {"FORBIDDEN"}
        assert _Allowed.calls >= 4  # the refused check, then each object's own (generic path)
        # the other fields are still served (and compiled) beside the refused one
        plain = await s.execute("{ holders { name best { currency } } }", context_value={"allowed": False})
        assert plain.errors is None and plain.data is not None
        assert [h["name"] for h in plain.data["holders"]] == ["a", "b", "c"]


async def test_check_mode_compares_nested_rows_too() -> None:
    @strawberry.type
    class DriftQuery:
        @strawberry.field
        def holders(self) -> list[Holder]:
            found = _holders()
            for h in found:
                for c in h.prefetched_coins or []:
                    c.drift = "d"  # type: ignore[assignment]
            return found

    quiet = await api_schema(Settings(executor_check=False), query=DriftQuery).execute(
        "{ holders { coins { drift } } }", context_value={"allowed": True})
    assert quiet.errors is None
    checked = await api_schema(Settings(executor_check=True), query=DriftQuery).execute(
        "{ holders { coins { drift } } }", context_value={"allowed": True})
    assert checked.errors and checked.errors[0].extensions == {"code": "INTERNAL_SERVER_ERROR"}


@strawberry.type
class Bad:
    prefetched_coins: strawberry.Private[list[Coin] | None] = None

    @strawberry.field(permission_classes=[_PerObject], metadata=prefetched("prefetched_coins"))
    def coins(self) -> list[Coin] | None:
        return self.prefetched_coins


@strawberry.type
class BadQuery:
    @strawberry.field
    def bad(self) -> Bad:
        return Bad()


def test_a_prefetched_field_whose_permission_reads_the_object_fails_the_build() -> None:
    with pytest.raises(TypeError, match=r"Bad\.coins"):
        api_schema(Settings(), query=BadQuery)
