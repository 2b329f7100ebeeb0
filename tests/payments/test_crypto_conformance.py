"""The crypto gateway port's conformance: every registered adapter, against its gateway's stand-in,
driven through the stand-in's public endpoints (the chain and the gateway's back office) and our
real /webhooks/<provider>. A new adapter adds its harness to HARNESSES."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.payments import crypto, withdrawals
from domain.payments.crypto_port import gateways
from domain.payments.status import Status
from domain.shared.db import in_transaction
from sandbox.coinspaid import CoinsPaidStandIn
from tests.payments.conftest import check_invariants, client, finance, payment_row, snapshot, wallet_of


@dataclass
class Harness:
    name: str
    stand_in: CoinsPaidStandIn  # a union of the stand-ins when there are several

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(f"{self.stand_in.base_url}{path}", json=body or {})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def send(self, address: str, amount: str, asset: str = "BTC") -> dict[str, Any]:
        """Someone sends coins to the address: the gateway sees the transaction unconfirmed."""
        return await self._post("/sandbox/deposits", {"address": address, "amount": amount, "currency": asset})

    async def confirmations(self, tx_id: int, n: int) -> dict[str, Any]:
        return await self._post(f"/sandbox/deposits/{tx_id}/confirmations", {"confirmations": n})

    async def payout_done(self, payout_id: str, status: str = "confirmed") -> dict[str, Any]:
        return await self._post(f"/sandbox/withdrawals/{payout_id}/complete", {"status": status})

    def payouts(self) -> set[str]:
        return {str(i) for i in self.stand_in.withdrawals}

    def callback(self, tx_id: int) -> bytes:
        return self.stand_in.event(self.stand_in.transactions[tx_id])

    async def deliver(self, body: bytes, **kwargs: Any) -> httpx.Response:
        return await self.stand_in.deliver(body, **kwargs)


HARNESSES = {"coinspaid": lambda request: Harness("coinspaid", request.getfixturevalue("chain"))}
METHOD = {"coinspaid": "crypto-btc"}


def test_every_adapter_has_a_harness() -> None:
    assert set(gateways()) <= set(HARNESSES)


@pytest.fixture(params=sorted(HARNESSES))
def gateway(request: pytest.FixtureRequest) -> Harness:
    harness: Harness = HARNESSES[request.param](request)
    return harness


async def _address(factory: Any, settings: Any, uid: int, asset: str = "BTC") -> str:
    return (await crypto.deposit_address(factory, settings, client(uid), user_id=uid, asset=asset)).address


async def _deposit_rows(factory: Any, uid: int) -> list[Any]:
    async with factory() as s:
        return list(await s.execute(text(
            "SELECT id, status, amount FROM payments WHERE user_id = :u AND direction = 'deposit'"), {"u": uid}))


async def test_address_is_issued_once_per_client_and_currency(gateway, session_factory, settings, make_user):
    uid, other = await make_user(), await make_user()

    first, again = await _address(session_factory, settings, uid), await _address(session_factory, settings, uid)
    eth, theirs = await _address(session_factory, settings, uid, "ETH"), await _address(session_factory, settings,
                                                                                         other)

    assert first == again and len({first, eth, theirs}) == 3
    async with session_factory() as s:
        issued = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'crypto_address.issue' "
                                     "AND after->>'address' = :a"), {"a": first})
    assert issued == 1


async def test_deposit_is_credited_once_after_the_confirmations(gateway, session_factory, settings, make_user):
    uid = await make_user()
    needs = crypto.confirmations_required("BTC")
    sent = await gateway.send(await _address(session_factory, settings, uid), "0.25")
    assert sent["callback"] == 200

    for n in range(1, needs):
        assert (await gateway.confirmations(sent["id"], n))["callback"] == 200
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal(0), Decimal(0))
    [(_, status, _)] = await _deposit_rows(session_factory, uid)
    assert status == "pending"

    await gateway.confirmations(sent["id"], needs)
    await gateway.confirmations(sent["id"], needs + 2)
    redelivered = await gateway.deliver(gateway.callback(sent["id"]))

    assert redelivered.json() == {"status": "duplicate"}
    [(_, status, amount)] = await _deposit_rows(session_factory, uid)
    assert status == "succeeded" and Decimal(amount) == Decimal("0.25")
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.25"), Decimal(0))
    await check_invariants(session_factory)


async def test_unsigned_or_missigned_callback_is_refused_with_no_trace(gateway, session_factory, settings,
                                                                        make_user):
    uid = await make_user()
    address = await _address(session_factory, settings, uid)
    tx = gateway.stand_in.transaction(address, "0.5", confirmations=50)
    body = gateway.stand_in.event(tx)
    before = await snapshot(session_factory)

    unsigned = await gateway.deliver(body, headers={"Content-Type": "application/json"})
    missigned = await gateway.deliver(body, secret="not-the-secret")
    wrong_key = await gateway.deliver(body, headers=gateway.stand_in.headers(body, key="someone-else"))

    for response in (unsigned, missigned, wrong_key):
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert await snapshot(session_factory) == before


def _approve(approver: int, payment_id: int) -> Any:
    async def run(session: Any) -> Any:
        return await withdrawals.approve(session, finance(approver), payment_id)

    return run


async def test_payout_is_sent_and_settled_by_the_gateway(gateway, session_factory, settings, make_user):
    uid, approver = await make_user(), await make_user(staff=True)
    sent = await gateway.send(await _address(session_factory, settings, uid), "0.4")
    await gateway.confirmations(sent["id"], crypto.confirmations_required("BTC"))
    destination = "bc1q" + uuid.uuid4().hex

    async def request(amount: str) -> Any:
        return await in_transaction(session_factory, lambda s: withdrawals.request_withdrawal(
            s, settings, client(uid, stepped_up=True), user_id=uid, method_code=METHOD[gateway.name],
            currency="BTC", amount=Decimal(amount), country=None, destination={"address": destination},
            idempotency_key=f"crypto-wd-{uid}-{amount}"))

    paid, cancelled = await request("0.1"), await request("0.05")
    for payment in (paid, cancelled):
        await in_transaction(session_factory, _approve(approver, payment.id))
        out = await withdrawals.payout(session_factory, settings, finance(approver), payment.id)
        assert out.status is Status.PENDING and out.provider_payment_id in gateway.payouts()
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.4"), Decimal("0.15"))

    done = await gateway.payout_done(str((await payment_row(session_factory, paid.id)).provider_payment_id))
    undone = await gateway.payout_done(str((await payment_row(session_factory, cancelled.id)).provider_payment_id),
                                       "cancelled")

    assert done["callback"] == 200 and undone["callback"] == 200
    assert (await payment_row(session_factory, paid.id)).status == "succeeded"
    assert (await payment_row(session_factory, cancelled.id)).status == "failed"
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.3"), Decimal(0))
    again = await gateway.payout_done(str((await payment_row(session_factory, paid.id)).provider_payment_id))
    assert again["callback"] == 200
    assert await wallet_of(session_factory, uid, "BTC") == (Decimal("0.3"), Decimal(0))
    await check_invariants(session_factory)
