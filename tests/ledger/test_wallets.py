"""Worked examples: deposits, exchange, adjustments, wallet transfers, reversals, idempotency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.accounts import HOUSE_SHARDS, Purpose, balance_of, house_account, wallet_for
from domain.ledger.errors import AlreadyReversed, IdempotencyKeyReused, InsufficientFunds, UnbalancedEntry
from domain.ledger.posting import Leg, post
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from tests.ledger.conftest import check_invariants, client, key, snapshot, staff, wallet_balance


async def deposit(factory: Any, uid: int, amount: str, currency: str = "USD", k: str | None = None) -> Any:
    return await in_transaction(factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency=currency, amount=Decimal(amount), idempotency_key=k or key()))


async def wallet_id(factory: Any, uid: int, currency: str) -> int:
    return (await in_transaction(factory, lambda s: wallet_for(s, uid, currency))).id


async def test_deposit_credits_wallet_and_debits_psp_clearing(session_factory, make_user):
    uid = await make_user()

    moved = await deposit(session_factory, uid, "250.00")

    wid = await wallet_id(session_factory, uid, "USD")
    assert await wallet_balance(session_factory, wid) == (Decimal("250"), Decimal("0"))
    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT a.purpose, p.amount FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
            "WHERE p.entry_id = :e ORDER BY p.amount"), {"e": moved.entry_id})).all()
        clearing = await house_account(s, Purpose.PSP_CLEARING, "USD", provider="test")
        shards = await s.scalar(text("SELECT count(*) FROM ledger_balances WHERE account_id = :a"), {"a": clearing.id})
        outbox = (await s.execute(text(
            "SELECT payload FROM outbox WHERE topic = 'wallet.updated' AND (payload->>'entry_id')::bigint = :e"),
            {"e": moved.entry_id})).scalar_one()
    assert [(r.purpose, r.amount) for r in rows] == [("client_wallet", Decimal("-250")),
                                                     ("psp_clearing", Decimal("250"))]
    assert shards == HOUSE_SHARDS
    assert outbox["user_id"] == uid and Decimal(outbox["available"]) == Decimal("250")  # exact; shown via at_scale
    await check_invariants(session_factory)


async def test_same_key_replays_and_different_input_is_refused(session_factory, make_user):
    uid = await make_user()
    k = key()
    first = await deposit(session_factory, uid, "10", k=k)
    before = await snapshot(session_factory)

    again = await deposit(session_factory, uid, "10.00", k=k)  # same input, normalised

    assert again.entry_id == first.entry_id and again.replayed and not first.replayed
    assert await snapshot(session_factory) == before
    with pytest.raises(IdempotencyKeyReused) as err:
        await deposit(session_factory, uid, "11", k=k)
    assert err.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert await snapshot(session_factory) == before


async def test_exchange_books_markup_as_revenue(session_factory, make_user):
    uid = await make_user()
    await deposit(session_factory, uid, "1000")

    result = await in_transaction(session_factory, lambda s: wallets.exchange(
        s, client(uid), user_id=uid, from_currency="USD", to_currency="EUR", amount=Decimal("100"),
        idempotency_key=key()))

    mid = Decimal(1) / Decimal("1.0850")
    assert result.bought == (Decimal(100) * mid * Decimal("0.995")).quantize(Decimal("0.01"))
    assert result.fee == (Decimal(100) * mid).quantize(Decimal("0.01")) - result.bought
    usd, eur = await wallet_id(session_factory, uid, "USD"), await wallet_id(session_factory, uid, "EUR")
    assert (await wallet_balance(session_factory, usd))[0] == Decimal("900")
    assert (await wallet_balance(session_factory, eur))[0] == result.bought
    async with session_factory() as s:
        revenue = await balance_of(s, (await house_account(s, Purpose.BROKER_REVENUE, "EUR")).id)
    assert revenue.balance >= result.fee > 0
    await check_invariants(session_factory)


async def test_overdraft_is_refused_and_changes_nothing(session_factory, make_user):
    uid = await make_user()
    await deposit(session_factory, uid, "50")
    before = await snapshot(session_factory)

    with pytest.raises(InsufficientFunds) as err:
        await in_transaction(session_factory, lambda s: wallets.exchange(
            s, client(uid), user_id=uid, from_currency="USD", to_currency="EUR", amount=Decimal("50.01"),
            idempotency_key=key()))

    assert err.value.code == "INSUFFICIENT_FUNDS"
    assert await snapshot(session_factory) == before


async def test_adjustment_needs_reason_and_may_go_negative_only_by_rule(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    await deposit(session_factory, uid, "20")
    wid = await wallet_id(session_factory, uid, "USD")
    before = await snapshot(session_factory)

    for reason, amount in (("", "-5"), ("chargeback", "-30")):
        with pytest.raises(DomainError) as err:
            await in_transaction(session_factory, lambda s, r=reason, a=amount: wallets.adjust_balance(  # type: ignore[misc]
                s, staff(sid), wallet_id=wid, amount=Decimal(a), reason=r, idempotency_key=key()))
        assert err.value.code in ("VALIDATION_FAILED", "INSUFFICIENT_FUNDS")
    assert await snapshot(session_factory) == before

    await in_transaction(session_factory, lambda s: wallets.adjust_balance(
        s, staff(sid), wallet_id=wid, amount=Decimal("-30"), reason="chargeback", idempotency_key=key(),
        allow_negative=True))

    assert (await wallet_balance(session_factory, wid))[0] == Decimal("-10")
    async with session_factory() as s:
        audit = (await s.execute(text(
            "SELECT category, reason FROM audit_events WHERE action = 'wallet.adjust' ORDER BY id DESC LIMIT 1"))).one()
    assert tuple(audit) == ("balance_adjustment", "chargeback")
    await check_invariants(session_factory)


async def test_reversal_mirrors_the_entry_once(session_factory, make_user):
    uid, sid = await make_user(), await make_user(staff=True)
    moved = await deposit(session_factory, uid, "75")
    wid = await wallet_id(session_factory, uid, "USD")

    rev = await in_transaction(session_factory, lambda s: wallets.reverse(
        s, staff(sid), entry_id=moved.entry_id, reason="duplicate PSP notification", idempotency_key=key()))

    assert (await wallet_balance(session_factory, wid))[0] == Decimal("0")
    async with session_factory() as s:
        ref = await s.scalar(text("SELECT reverses_entry_id FROM ledger_entries WHERE id = :e"), {"e": rev.entry_id})
    assert ref == moved.entry_id
    with pytest.raises(AlreadyReversed):
        await in_transaction(session_factory, lambda s: wallets.reverse(
            s, staff(sid), entry_id=moved.entry_id, reason="again", idempotency_key=key()))
    await check_invariants(session_factory)


async def test_journal_is_immutable_and_unbalanced_entries_are_refused(session_factory, make_user):
    uid = await make_user()
    moved = await deposit(session_factory, uid, "5")

    for sql in ("UPDATE ledger_postings SET amount = amount * 2 WHERE entry_id = :e",
                "DELETE FROM ledger_entries WHERE id = :e"):
        with pytest.raises(Exception, match="append-only"):
            async with session_factory() as s, s.begin():
                await s.execute(text(sql), {"e": moved.entry_id})

    async def lopsided(s: Any) -> None:
        w = await wallet_for(s, uid, "USD")
        c = await house_account(s, Purpose.SUSPENSE, "USD")
        await post(s, client(uid), [Leg(w, Decimal("1")), Leg(c, Decimal("-2"))], ref_kind="test", ref_id="x",
                   idempotency_key=key())

    with pytest.raises(UnbalancedEntry):
        await in_transaction(session_factory, lopsided)
    with pytest.raises(Exception, match="does not balance"):  # the database refuses it too
        async with session_factory() as s, s.begin():
            w = await wallet_for(s, uid, "USD")
            await s.execute(text(
                "INSERT INTO ledger_entries (ref_kind, ref_id, idempotency_key, actor) VALUES ('t', 't', :k, 't')"),
                {"k": key()})
            await s.execute(text(
                "INSERT INTO ledger_postings (entry_id, account_id, shard, currency, amount) "
                "SELECT currval('ledger_entries_id_seq'), :a, 0, 'USD', v FROM unnest(ARRAY[1, -2]) v"), {"a": w.id})
    await check_invariants(session_factory)


async def test_postings_must_name_a_real_entry_and_an_account_in_its_currency(session_factory, make_user):
    uid = await make_user()
    moved = await deposit(session_factory, uid, "5")
    before = await snapshot(session_factory)
    async with session_factory() as s:
        wallet = await wallet_for(s, uid, "USD")
    insert = ("INSERT INTO ledger_postings (entry_id, account_id, shard, currency, amount) "
              "SELECT :e, :a, 0, :c, v FROM unnest(ARRAY[1, -1]) v")
    cases = [({"e": 10**12, "a": wallet.id, "c": "USD"}, "names entry"),  # no such entry
             ({"e": moved.entry_id, "a": 10**12, "c": "USD"}, "names account"),  # no such account
             ({"e": moved.entry_id, "a": wallet.id, "c": "EUR"}, "names account")]  # the wallet is in USD
    for params, message in cases:
        with pytest.raises(Exception, match=message):  # checked at commit, without locking the account
            async with session_factory() as s, s.begin():
                await s.execute(text(insert), params)
    for sql in ("DELETE FROM ledger_accounts WHERE id = :a", "UPDATE ledger_accounts SET currency = 'EUR' WHERE id = :a"):
        with pytest.raises(Exception, match="permanent"):
            async with session_factory() as s, s.begin():
                await s.execute(text(sql), {"a": wallet.id})
    assert await snapshot(session_factory) == before


async def test_wallet_transfer_between_own_wallets_and_foreign_wallet_is_not_found(session_factory, make_user):
    uid, other = await make_user(), await make_user()
    await deposit(session_factory, uid, "40")
    mine = await wallet_id(session_factory, uid, "USD")
    theirs = await wallet_id(session_factory, other, "USD")
    before = await snapshot(session_factory)

    with pytest.raises(DomainError) as err:
        await in_transaction(session_factory, lambda s: wallets.wallet_transfer(
            s, client(uid), from_wallet_id=mine, to_wallet_id=theirs, amount=Decimal("1"), idempotency_key=key(),
            owner_id=uid))

    assert err.value.code == "WALLET_NOT_FOUND"
    assert await snapshot(session_factory) == before
