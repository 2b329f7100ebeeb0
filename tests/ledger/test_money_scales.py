"""Every configured currency is exact end to end: storage, posting and API. An amount finer than its
currency is refused with AMOUNT_PRECISION and changes nothing; outputs are fixed to the currency's scale."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.accounts import wallet_for
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from schema.root import build_schema
from tests.graphql_exec import run_as
from tests.ledger.conftest import check_invariants, client, key, snapshot, staff


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)



WALLETS = "{ myWallets { currency balance held available } }"
ADJUST = """mutation($i: AdjustBalanceInput!) { adjustBalance(input: $i) { wallet { balance } errors { code field } } }"""
TXNS = """query($w: ID!) { walletTransactions(walletId: $w) { edges { node { amount } } } }"""


async def postings_of(session_factory: Any, uid: int, currency: str) -> list[Decimal]:
    async with session_factory() as s:
        return list((await s.scalars(text(
            "SELECT p.amount FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE a.owner_id = :u AND a.currency = :c ORDER BY p.id"), {"u": uid, "c": currency})).all())


async def adjust(schema: Any, runtime: Any, sid: int, wid: int, amount: Any) -> Any:
    return await run_as(schema, runtime, staff(sid), ADJUST, i={
        "walletId": str(wid), "amount": amount, "reason": "scale", "idempotencyKey": key()})


async def test_eth_amounts_book_exactly_to_eighteen_places(schema, runtime, session_factory, make_user):
    # Booked as 0.12345679 (money invented) while the ledger kept 8 places.
    uid, sid = await make_user(), await make_user(staff=True)
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "ETH"))).id

    done = await adjust(schema, runtime, sid, wid, "0.123456789")
    finest = await adjust(schema, runtime, sid, wid, "0.000000000000000001")

    assert done.errors is None and done.data["adjustBalance"] == {
        "wallet": {"balance": "0.123456789000000000"}, "errors": []}
    assert finest.data["adjustBalance"] == {"wallet": {"balance": "0.123456789000000001"}, "errors": []}
    # a credit to the wallet is a negative posting
    assert await postings_of(session_factory, uid, "ETH") == [Decimal("-0.123456789"), Decimal("-1e-18")]
    mine = await run_as(schema, runtime, client(uid), WALLETS)
    assert mine.data["myWallets"] == [{"currency": "ETH", "balance": "0.123456789000000001",
                                       "held": "0.000000000000000000", "available": "0.123456789000000001"}]
    txns = await run_as(schema, runtime, client(uid), TXNS, w=str(wid))
    assert [e["node"]["amount"] for e in txns.data["walletTransactions"]["edges"]] == [
        "0.000000000000000001", "0.123456789000000000"]
    await check_invariants(session_factory)


async def test_one_billionth_eth_books_exactly(session_factory, make_user):
    # Was an internal error: the 8-place column rounded it to a zero posting, which the CHECK refused.
    uid = await make_user()

    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency="ETH", amount=Decimal("0.000000001"), idempotency_key=key()))

    assert await postings_of(session_factory, uid, "ETH") == [Decimal("-0.000000001")]
    await check_invariants(session_factory)


async def test_eth_billionth_through_the_api_books_exactly_and_its_exponent_form_is_refused(
        schema, runtime, session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "ETH"))).id
    before = await snapshot(session_factory)

    exponent = await adjust(schema, runtime, sid, wid, "1e-9")
    assert exponent.data is None and [e.extensions["code"] for e in exponent.errors] == ["INVALID_AMOUNT"]
    assert await snapshot(session_factory) == before

    plain = await adjust(schema, runtime, sid, wid, "0.000000001")
    assert plain.data["adjustBalance"] == {"wallet": {"balance": "0.000000001000000000"}, "errors": []}
    assert await postings_of(session_factory, uid, "ETH") == [Decimal("-0.000000001")]
    await check_invariants(session_factory)


async def test_large_eth_amounts_are_not_rounded_by_python_arithmetic(session_factory, make_user):
    # 38 significant digits: Python's default 28-digit context would round the sum of the legs.
    uid = await make_user()
    amount = Decimal("12345678901234567890.123456789012345678")

    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency="ETH", amount=amount, idempotency_key=key()))

    assert await postings_of(session_factory, uid, "ETH") == [-amount]
    await check_invariants(session_factory)


@pytest.mark.parametrize(("currency", "amount"), [
    ("ETH", "0.0000000000000000001"),  # finer than ETH's 18 places
    ("BTC", "0.000000001"),  # finer than BTC's 8
    ("USDT", "0.0000001"),
    ("USD", "0.001"),
    ("JPY", "1.5"),
    ("KWD", "0.0001"),
])
async def test_amounts_finer_than_the_currency_are_refused_and_change_nothing(
        schema, runtime, session_factory, make_user, currency, amount):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, currency))).id
    before = await snapshot(session_factory)

    refused = await adjust(schema, runtime, sid, wid, amount)
    with pytest.raises(DomainError) as domain_refusal:
        await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
            s, client(uid), user_id=uid, currency=currency, amount=Decimal(amount), idempotency_key=key()))

    if refused.errors:  # finer than any currency: the scalar itself refuses it
        assert [e.extensions["code"] for e in refused.errors] == ["AMOUNT_PRECISION"]
    else:
        assert refused.data["adjustBalance"] == {"wallet": None,
                                                 "errors": [{"code": "AMOUNT_PRECISION", "field": "amount"}]}
    assert domain_refusal.value.code == "AMOUNT_PRECISION"
    assert await snapshot(session_factory) == before


BAD_LITERALS = ["NaN", "nan", "Infinity", "-Infinity", "1e999", "1e-9", "1E3", "10.00\n", "10.00 ", " 10.00",
                "\t1", "1\r", "+1", "01", "1.", ".5", "1,00", "0x10", "", "１０", "1０", "1_000", "- 1", "--1",
                "123456789012345678901"]  # 21 integer digits


@pytest.mark.parametrize("literal", BAD_LITERALS)
async def test_bad_money_literals_are_refused_and_change_nothing(schema, runtime, session_factory, make_user,
                                                                 literal):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "USD"))).id
    before = await snapshot(session_factory)

    refused = await adjust(schema, runtime, sid, wid, literal)

    assert refused.data is None
    assert [e.extensions["code"] for e in refused.errors] == ["INVALID_AMOUNT"]
    assert await snapshot(session_factory) == before


@pytest.mark.parametrize("number", [10.5, 10, 1e999])
async def test_json_numbers_are_refused_as_money(schema, runtime, session_factory, make_user, number):
    uid, sid = await make_user(), await make_user(staff=True)
    wid = (await in_transaction(session_factory, lambda s: wallet_for(s, uid, "USD"))).id
    before = await snapshot(session_factory)

    refused = await adjust(schema, runtime, sid, wid, number)

    assert [e.extensions["code"] for e in refused.errors] == ["INVALID_AMOUNT"]
    assert await snapshot(session_factory) == before


@pytest.mark.parametrize("literal", ['10.5', '"NaN"', '"1e999"', '"10.00\\n"'])
async def test_inline_money_literals_are_refused(schema, runtime, session_factory, make_user, literal):
    sid = await make_user(staff=True)
    query = (f'mutation {{ adjustBalance(input: {{walletId: "1", amount: {literal}, reason: "x", '
             'idempotencyKey: "k"}) { errors { code } } }')
    before = await snapshot(session_factory)

    refused = await run_as(schema, runtime, staff(sid), query)

    assert refused.data is None and refused.errors  # refused before any resolver runs
    assert await snapshot(session_factory) == before


async def test_outputs_are_fixed_to_each_currency_scale(schema, runtime, session_factory, make_user):
    uid = await make_user()
    for cur in ("USD", "JPY", "KWD", "BTC", "ETH"):
        await in_transaction(session_factory, lambda s, c=cur: wallet_for(s, uid, c))  # type: ignore[misc]
    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency="USD", amount=Decimal("12.5"), idempotency_key=key()))

    mine = await run_as(schema, runtime, client(uid), WALLETS)

    by_currency = {w["currency"]: w for w in mine.data["myWallets"]}
    assert by_currency["USD"] == {"currency": "USD", "balance": "12.50", "held": "0.00", "available": "12.50"}
    assert by_currency["JPY"]["balance"] == "0"
    assert by_currency["KWD"]["balance"] == "0.000"
    assert by_currency["BTC"]["balance"] == "0.00000000"
    assert by_currency["ETH"]["balance"] == "0." + "0" * 18
    for w in mine.data["myWallets"]:
        assert "E" not in w["balance"] and not w["balance"].startswith("-0")


SET_LIMIT = """mutation($scope: String!, $key: String!, $lots: Decimal, $usd: Money) {
  setRiskLimit(scope: $scope, key: $key, maxNetLots: $lots, maxNotionalUsd: $usd) {
    limit { maxNetLots maxNotionalUsd } errors { code field } } }"""
RISK = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"risk.manage", "risk.read"}))


async def limit_rows(session_factory: Any) -> list[Any]:
    async with session_factory() as s:
        return [tuple(r) for r in (await s.execute(text("SELECT * FROM risk_limits ORDER BY id"))).all()]


@pytest.mark.parametrize("usd", [1.5, "NaN", "1e999", "Infinity", "10.00\n", "-0x1"])
async def test_max_notional_usd_takes_only_money_strings(schema, runtime, session_factory, usd):
    before = await limit_rows(session_factory)

    refused = await run_as(schema, runtime, RISK, SET_LIMIT, scope="symbol", key="EURUSD", usd=usd)

    assert refused.data is None and [e.extensions["code"] for e in refused.errors] == ["INVALID_AMOUNT"]
    assert await limit_rows(session_factory) == before


@pytest.mark.parametrize("lots", [0.5, "NaN", "1e999", "0.5\n"])
async def test_decimal_inputs_are_strict_too(schema, runtime, session_factory, lots):
    before = await limit_rows(session_factory)

    refused = await run_as(schema, runtime, RISK, SET_LIMIT, scope="symbol", key="EURUSD", lots=lots)

    assert refused.data is None and [e.extensions["code"] for e in refused.errors] == ["INVALID_AMOUNT"]
    assert await limit_rows(session_factory) == before


async def test_risk_limit_precision_and_canonical_outputs(schema, runtime, session_factory):
    before = await limit_rows(session_factory)
    too_fine = await run_as(schema, runtime, RISK, SET_LIMIT, scope="symbol", key="USDSEK", usd="1000.001")
    assert too_fine.data["setRiskLimit"] == {"limit": None,
                                             "errors": [{"code": "AMOUNT_PRECISION", "field": "maxNotionalUsd"}]}
    assert await limit_rows(session_factory) == before

    done = await run_as(schema, runtime, RISK, SET_LIMIT, scope="symbol", key="USDSEK", lots="0.50", usd="2500000.5")

    assert done.errors is None
    assert done.data["setRiskLimit"] == {"limit": {"maxNetLots": "0.5", "maxNotionalUsd": "2500000.50"},
                                         "errors": []}
