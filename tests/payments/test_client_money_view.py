"""Staff see a client's wallets and payments on the client-360 view: newest first, paginated,
filterable by status and direction; desk-scoped like the rest of the client and permission-checked
(wallets need ledger.read, payments payments.read)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.payments import deposits
from tests.identity.staff import make_staff
from tests.ids import db_id
from tests.payments.conftest import WIRE, client, paid_card_deposit

VIEW = """query($id: ID!, $f: Int, $a: String, $s: [PaymentStatus!], $d: PaymentDirection) {
  client(id: $id) { id wallets { currency balance held available }
    payments(first: $f, after: $a, status: $s, direction: $d) {
      edges { node { reference direction status amount currency } } pageInfo { hasNextPage endCursor } } } }"""


async def _client_id(factory: Any, uid: int, desk: str) -> str:
    async with factory() as s, s.begin():
        cid = await s.scalar(text("UPDATE clients SET desk = :d WHERE user_id = :u RETURNING id"),
                             {"d": desk, "u": uid})
    return str(cid)


async def test_staff_see_a_clients_wallets_and_payments(configured, http, session_factory, settings,
                                                        make_user) -> None:
    desk = f"desk-{uuid.uuid4().hex[:8]}"
    uid = await make_user()
    cid = await _client_id(session_factory, uid, desk)
    card = await paid_card_deposit(session_factory, settings, configured, uid, "200.00")
    wire = await deposits.create_deposit(session_factory, settings, client(uid), user_id=uid, method_code=WIRE,
                                         currency="USD", amount=Decimal("150.00"), country=None, return_url="")
    support = await make_staff(http, session_factory, settings, ["support"], desk=desk)

    body = await support.client(VIEW, {"id": cid, "f": 1})
    assert "errors" not in body, body
    view = body["data"]["client"]
    assert view["wallets"] == [{"currency": "USD", "balance": "196.00", "held": "0.00", "available": "196.00"}]
    page = view["payments"]
    assert [e["node"]["reference"] for e in page["edges"]] == [wire.reference]  # newest first
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await support.client(VIEW, {"id": cid, "f": 5, "a": page["pageInfo"]["endCursor"]}))["data"]["client"]
    assert [e["node"]["reference"] for e in rest["payments"]["edges"]] == [card.reference]
    assert rest["payments"]["pageInfo"]["hasNextPage"] is False

    succeeded = (await support.client(VIEW, {"id": cid, "s": ["SUCCEEDED"]}))["data"]["client"]["payments"]
    assert [(e["node"]["reference"], e["node"]["status"], e["node"]["amount"]) for e in succeeded["edges"]] == [
        (card.reference, "SUCCEEDED", "200.00")]
    withdrawals = (await support.client(VIEW, {"id": cid, "d": "WITHDRAWAL"}))["data"]["client"]["payments"]
    assert withdrawals["edges"] == []
    both = (await support.client(VIEW, {"id": cid, "s": ["PENDING", "SUCCEEDED"], "d": "DEPOSIT"}))
    assert len(both["data"]["client"]["payments"]["edges"]) == 2
    bad = await support.client(VIEW, {"id": cid, "a": "not-a-cursor"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_PAGE_ARGUMENTS"


async def test_money_views_are_desk_scoped_and_permission_checked(configured, http, session_factory, settings,
                                                                  make_user) -> None:
    desk = f"desk-{uuid.uuid4().hex[:8]}"
    uid = await make_user()
    cid = await _client_id(session_factory, uid, desk)
    await paid_card_deposit(session_factory, settings, configured, uid, "100.00")
    away = await make_staff(http, session_factory, settings, ["support"], desk=f"away-{uuid.uuid4().hex[:8]}")
    sales = await make_staff(http, session_factory, settings, ["sales"], desk=desk)
    finance = await make_staff(http, session_factory, settings, ["finance"])  # back office: every desk

    hidden = await away.client(VIEW, {"id": cid})
    assert hidden["data"]["client"] is None and hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "100.00" not in str(hidden)
    # sales see the client of their desk but neither wallets nor payments (no ledger.read / payments.read)
    partial = await sales.client(VIEW, {"id": cid})
    assert db_id(partial["data"]["client"]["id"]) == db_id(cid)
    assert partial["data"]["client"]["wallets"] is None and partial["data"]["client"]["payments"] is None
    assert {e["extensions"]["code"] for e in partial["errors"]} == {"FORBIDDEN"}
    assert {tuple(e["path"]) for e in partial["errors"]} == {("client", "wallets"), ("client", "payments")}
    seen = (await finance.client(VIEW, {"id": cid}))["data"]["client"]
    assert seen["wallets"][0]["balance"] == "98.00" and len(seen["payments"]["edges"]) == 1
    # another tenant's client id is simply not found; a malformed one is INVALID_ID
    for missing, code in (("999999999", "NOT_FOUND"), ("x", "INVALID_ID")):
        gone = await finance.client(VIEW, {"id": missing})
        assert gone["data"]["client"] is None and gone["errors"][0]["extensions"]["code"] == code
