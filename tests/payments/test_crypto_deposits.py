"""Crypto deposits through the CoinsPaid stand-in and our real /webhooks/coinspaid endpoint:
addresses per client and asset, credit after the confirmations exactly once, drops never credited."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.events.hub import Event
from domain.payments import crypto, withdrawals
from domain.shared.db import in_transaction
from domain.shared.errors import DomainError
from sandbox.coinspaid import CoinsPaidStandIn
from schema.identity.resolvers import _notification
from tests.conftest import GraphQLClient
from tests.identity.helpers import outbox_for, register
from tests.payments.conftest import check_invariants, client, onboarded, payment_row, snapshot, wallet_of

BTC_NEEDS = crypto.DEFAULT_CONFIRMATIONS["BTC"]


async def address_for(chain: CoinsPaidStandIn, factory: Any, settings: Any, uid: int, asset: str = "BTC") -> str:
    issued = await crypto.deposit_address(factory, settings, client(uid), user_id=uid, asset=asset)
    return issued.address


async def credited_entries(factory: Any, payment_id: int) -> int:
    async with factory() as s:
        return int(await s.scalar(text(
            "SELECT count(*) FROM ledger_entries WHERE idempotency_key = :k"), {"k": f"payment:{payment_id}:credit"}))


async def tx_payment(factory: Any, txid: str) -> Any:
    async with factory() as s:
        pid = await s.scalar(text("SELECT payment_id FROM crypto_transactions WHERE txid = :t"), {"t": txid})
    assert pid is not None
    return await payment_row(factory, int(pid))


async def test_address_is_issued_once_per_client_and_asset(chain, session_factory, settings, make_user):
    uid, other = await make_user(), await make_user()

    first = await address_for(chain, session_factory, settings, uid)
    again = await address_for(chain, session_factory, settings, uid)
    eth = await address_for(chain, session_factory, settings, uid, "ETH")
    others = await address_for(chain, session_factory, settings, other)

    assert first == again and first.startswith("bc1q")
    assert len({first, eth, others}) == 3
    concurrent = await asyncio.gather(*(address_for(chain, session_factory, settings, uid, "USDT") for _ in range(5)))
    assert len(set(concurrent)) == 1
    async with session_factory() as s:
        rows = await s.scalar(text("SELECT count(*) FROM crypto_deposit_addresses WHERE user_id = :u"), {"u": uid})
    assert rows == 3


async def test_below_threshold_is_not_credited_and_at_threshold_credits_once(chain, session_factory, settings,
                                                                             make_user):
    uid = await make_user()
    address = await address_for(chain, session_factory, settings, uid)

    tx, seen = await chain.broadcast(address, "0.5")
    assert seen.status_code == 200 and seen.json() == {"status": f"pending: 0 of {BTC_NEEDS} confirmations"}
    for n in range(1, BTC_NEEDS):
        assert (await chain.confirm(tx, n)).json()["status"].startswith("pending")
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal(0), Decimal(0))
    assert (await tx_payment(session_factory, tx.txid)).status == "pending"

    at = await chain.confirm(tx, BTC_NEEDS)
    later = await chain.confirm(tx, BTC_NEEDS + 3)

    assert at.json() == {"status": "credited"}
    assert later.json() == {"status": "ignored: succeeded payment"}
    payment = await tx_payment(session_factory, tx.txid)
    assert payment.status == "succeeded" and payment.method_kind == "crypto" and payment.currency == "BTC"
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.5"), Decimal(0))
    assert await credited_entries(session_factory, payment.id) == 1
    await check_invariants(session_factory)


async def test_replayed_confirmation_webhook_credits_once(chain, session_factory, settings, make_user):
    uid = await make_user()
    tx, _ = await chain.broadcast(await address_for(chain, session_factory, settings, uid), "0.01")
    tx.confirmations = BTC_NEEDS
    body = chain.event(tx)

    first, second = await chain.deliver(body), await chain.deliver(body)

    assert first.json() == {"status": "credited"} and second.json() == {"status": "duplicate"}
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.01"), Decimal(0))


async def test_concurrent_duplicates_and_distinct_events_credit_once(chain, session_factory, settings, make_user):
    uid = await make_user()
    address = await address_for(chain, session_factory, settings, uid)
    tx = crypto_tx = (await chain.broadcast(address, "0.2"))[0]
    tx.confirmations = BTC_NEEDS
    same = chain.event(tx)
    # the same delivery ten times, and ten distinct callbacks (other ids) reporting the same confirmed transaction
    bodies = [same] * 10 + [chain.event(crypto_tx, event_id=900_000 + i) for i in range(10)]

    responses = await asyncio.gather(*(chain.deliver(b) for b in bodies))

    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses.count("credited") == 1 and statuses.count("duplicate") == 9
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.2"), Decimal(0))
    assert await credited_entries(session_factory, (await tx_payment(session_factory, tx.txid)).id) == 1
    await check_invariants(session_factory)


async def test_first_sight_delivered_concurrently_opens_one_deposit(chain, session_factory, settings, make_user):
    uid = await make_user()
    address = await address_for(chain, session_factory, settings, uid)
    tx = chain.transaction(address, "0.3", confirmations=BTC_NEEDS, txid="f" * 64)
    responses = await asyncio.gather(*(chain.deliver(chain.event(tx, event_id=800_000 + i)) for i in range(8)))

    assert sorted(r.json()["status"] for r in responses) == ["credited"] + ["ignored: succeeded payment"] * 7
    async with session_factory() as s:
        count = await s.scalar(text("SELECT count(*) FROM crypto_transactions WHERE txid = :t"), {"t": tx.txid})
    assert count == 1
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.3"), Decimal(0))


async def test_amount_precision_is_kept_to_the_satoshi(chain, session_factory, settings, make_user):
    uid = await make_user()
    tx, _ = await chain.broadcast(await address_for(chain, session_factory, settings, uid), "0.00012345")

    assert (await chain.confirm(tx, BTC_NEEDS)).json() == {"status": "credited"}
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.00012345"), Decimal(0))
    assert Decimal((await tx_payment(session_factory, tx.txid)).amount) == Decimal("0.00012345")


async def test_amount_finer_than_the_asset_is_refused_and_writes_nothing(chain, session_factory, settings,
                                                                         make_user):
    uid = await make_user()
    address = await address_for(chain, session_factory, settings, uid)
    before = await snapshot(session_factory)
    response = await chain.deliver(chain.event(chain.transaction(address, "0.000000001", confirmations=BTC_NEEDS)))

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_MALFORMED"
    assert await snapshot(session_factory) == before


async def test_eth_amount_at_full_scale_is_credited_exactly(chain, session_factory, settings, make_user):
    # The ledger kept 8 places: this deposit was held for review (and, before that, rounded).
    uid = await make_user()
    tx, _ = await chain.broadcast(await address_for(chain, session_factory, settings, uid, "ETH"),
                                  "0.123456789012345678", asset="ETH")

    credited = await chain.confirm(tx, crypto.DEFAULT_CONFIRMATIONS["ETH"])

    assert credited.json() == {"status": "credited"}
    balance, held = await wallet_of(session_factory, uid, "ETH")
    assert balance == Decimal("0.123456789012345678") and held == 0
    async with session_factory() as s:
        amounts = (await s.scalars(text(
            "SELECT p.amount FROM ledger_postings p JOIN payments y ON y.entry_id = p.entry_id "
            "WHERE y.user_id = :u"), {"u": uid})).all()
    assert sorted(abs(a) for a in amounts) == [Decimal("0.123456789012345678")] * 2
    await check_invariants(session_factory)


async def test_dropped_transaction_is_never_credited(chain, session_factory, settings, make_user):
    uid = await make_user()
    tx, _ = await chain.broadcast(await address_for(chain, session_factory, settings, uid), "1.5")
    await chain.confirm(tx, 1)

    dropped = await chain.drop(tx)
    late = await chain.confirm(tx, BTC_NEEDS)  # reported again after the reorg: staff review, no credit

    assert dropped.json() == {"status": "applied"}
    assert late.json() == {"status": "ignored: cancelled payment"}
    payment = await tx_payment(session_factory, tx.txid)
    assert payment.status == "cancelled" and "dropped" in payment.failure_reason
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal(0), Decimal(0))
    async with session_factory() as s:
        kinds = set((await s.scalars(text("SELECT kind FROM payment_signals WHERE user_id = :u"), {"u": uid})).all())
    assert "crypto_dropped_tx_confirmed" in kinds


async def test_transaction_to_an_unknown_address_is_ignored(chain, session_factory):
    response = await chain.deliver(chain.event(chain.transaction("bc1qnotours", "1", confirmations=BTC_NEEDS,
                                                                 txid="b" * 64)))

    assert response.json() == {"status": "ignored: not one of our addresses"}
    async with session_factory() as s:
        assert await s.scalar(text("SELECT count(*) FROM crypto_transactions WHERE txid = :t"), {"t": "b" * 64}) == 0


async def test_bad_signature_is_refused_and_writes_nothing(chain, session_factory, settings, make_user):
    uid = await make_user()
    address = await address_for(chain, session_factory, settings, uid)
    before = await snapshot(session_factory)
    response = await chain.deliver(chain.event(chain.transaction(address, "1", confirmations=9)),
                                   secret="not-the-secret")

    assert response.status_code == 401
    assert await snapshot(session_factory) == before


async def test_crypto_deposit_address_over_graphql(chain, http, session_factory):
    registered = await register(GraphQLClient(http))
    owner = GraphQLClient(http, registered["accessToken"])
    query = "query($a: String!) { cryptoDepositAddress(asset: $a) { asset address confirmationsRequired } }"
    # an unverified registrant gets no deposit address (payment status gates), and nothing is issued
    before = await snapshot(session_factory)
    refused = await owner(query, {"a": "BTC"})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "DEPOSIT_NOT_ALLOWED_FOR_STATUS"
    assert await snapshot(session_factory) == before
    await onboarded(session_factory, int(registered["viewer"]["id"]))

    first = await owner(query, {"a": "btc"})
    again = await owner(query, {"a": "BTC"})
    fiat = await owner(query, {"a": "USD"})
    anonymous = await GraphQLClient(http)(query, {"a": "BTC"})

    got = first["data"]["cryptoDepositAddress"]
    assert got["asset"] == "BTC" and got["confirmationsRequired"] == BTC_NEEDS and got["address"].startswith("bc1q")
    assert again["data"]["cryptoDepositAddress"] == got
    assert fiat["errors"][0]["extensions"]["code"] == "UNKNOWN_CURRENCY"
    assert anonymous["errors"][0]["extensions"]["code"] in {"UNAUTHENTICATED", "FORBIDDEN"}


async def test_crypto_withdrawal_needs_a_destination_address_and_changes_nothing(chain, session_factory, settings,
                                                                                make_user):
    uid = await make_user()

    def requested(destination: dict[str, Any]) -> Any:
        async def run(session: Any) -> Any:
            return await withdrawals.request_withdrawal(
                session, settings, client(uid, stepped_up=True), user_id=uid, method_code="crypto-btc",
                currency="BTC", amount=Decimal("0.1"), country=None, destination=destination,
                idempotency_key=f"wd-{uid}-{len(destination)}")

        return run

    before = await snapshot(session_factory)
    for destination in ({}, {"address": "not an address"}, {"address": "bc1q" + "0" * 36, "tag": "x y"}):
        with pytest.raises(DomainError) as refused:
            await in_transaction(session_factory, requested(destination))
        assert refused.value.code == "CRYPTO_ADDRESS_INVALID"
    assert await snapshot(session_factory) == before


async def test_owner_follows_the_confirmations_and_is_notified_once_credited(chain, http, session_factory, settings):
    registered = await register(GraphQLClient(http))
    uid = int(registered["viewer"]["id"])
    owner = GraphQLClient(http, registered["accessToken"])
    await onboarded(session_factory, uid)
    address = await address_for(chain, session_factory, settings, uid)
    query = ("query($id: ID!) { payment(id: $id) { status currency amount "
             "cryptoConfirmations { confirmations required dropped } } }")

    tx, _ = await chain.broadcast(address, "0.25")
    payment = await tx_payment(session_factory, tx.txid)
    pid = str(payment.id)
    seen = [(await owner(query, {"id": pid}))["data"]["payment"]]
    await chain.confirm(tx, 1)
    seen.append((await owner(query, {"id": pid}))["data"]["payment"])
    notes_before = [n for n in await outbox_for(session_factory, "user.notification") if n["user_id"] == uid]
    await chain.confirm(tx, BTC_NEEDS)
    seen.append((await owner(query, {"id": pid}))["data"]["payment"])

    assert [(p["status"], p["cryptoConfirmations"]["confirmations"]) for p in seen] == [
        ("PENDING", 0), ("PENDING", 1), ("SUCCEEDED", BTC_NEEDS)]
    assert {p["cryptoConfirmations"]["required"] for p in seen} == {BTC_NEEDS}
    assert seen[-1]["amount"] == "0.25000000" and not seen[-1]["cryptoConfirmations"]["dropped"]
    notes = [n for n in await outbox_for(session_factory, "user.notification") if n["user_id"] == uid]
    assert notes_before == []  # nothing while it was pending
    assert [n["kind"] for n in notes] == ["payment.deposit_credited"]
    assert payment.reference in notes[0]["message"] and "0.25000000 BTC" in notes[0]["message"]
    # what a portal words in its user's language, as the subscription delivers it
    assert notes[0]["details"] == {"reference": payment.reference, "amount": "0.25000000", "currency": "BTC"}
    delivered = _notification(Event(1, "user.notification", notes[0], ""))
    assert (delivered.reference, str(delivered.amount), delivered.currency) == (payment.reference, "0.25000000", "BTC")
    assert delivered.id and delivered.read_at is None  # kept: the id markNotificationRead takes
    security = _notification(Event(2, "user.notification", {"user_id": uid, "kind": "security.x", "message": "m",
                                                            "notification_id": 1, "created_at": "2026-01-01T00:00:00+00:00"}, ""))
    assert (security.reference, security.amount, security.currency) == (None, None, None)
    # another client cannot read it
    stranger = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    assert (await stranger(query, {"id": pid}))["errors"][0]["extensions"]["code"].endswith("NOT_FOUND")


async def test_a_dropped_transaction_shows_as_dropped_and_notifies_nothing(chain, http, session_factory, settings):
    registered = await register(GraphQLClient(http))
    uid = int(registered["viewer"]["id"])
    owner = GraphQLClient(http, registered["accessToken"])
    await onboarded(session_factory, uid)
    tx, _ = await chain.broadcast(await address_for(chain, session_factory, settings, uid), "0.1")
    await chain.confirm(tx, 1)
    await chain.drop(tx)
    pid = str((await tx_payment(session_factory, tx.txid)).id)

    got = (await owner("query($id: ID!) { payment(id: $id) { status cryptoConfirmations { confirmations dropped } } }",
                       {"id": pid}))["data"]["payment"]

    assert got == {"status": "CANCELLED", "cryptoConfirmations": {"confirmations": 0, "dropped": True}}
    assert [n for n in await outbox_for(session_factory, "user.notification") if n["user_id"] == uid] == []
