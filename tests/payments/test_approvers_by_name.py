"""Payment.approvals: who approved a withdrawal so far, by name, for staff who approve withdrawals only;
one statement for a whole page of payments."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from domain.shared.actor import Actor, ActorKind
from schema.node import global_id
from schema.root import build_schema
from tests.graphql_exec import run_as
from tests.payments.conftest import client, finance, paid_card_deposit
from tests.payments.test_withdrawals import approve, request
from tests.platform.test_node import statements

PENDING = """query($c: ID!) { payments(clientId: $c, direction: WITHDRAWAL, first: 10) {
  nodes { id approval approvals { staffUserId name approvedAt } } } }"""
ONE = """query($i: ID!) { payment(id: $i) { id approvals { name } } }"""
STAFF_ONE = """query($c: ID!) { payments(clientId: $c, first: 10) { nodes { id direction approvals { name } } } }"""


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)


async def client_gid(factory: Any, uid: int) -> str:
    async with factory() as s:
        return global_id("Client360", int(await s.scalar(text("SELECT id FROM clients WHERE user_id = :u"),
                                                          {"u": uid})))


def support(uid: int) -> Actor:
    return Actor(ActorKind.STAFF, user_id=uid, permissions=frozenset({"payments.read", "clients.read", "kyc.review"}))


async def test_the_second_approver_sees_the_first_by_name(configured, schema, runtime, session_factory, settings,
                                                           make_user):
    uid = await make_user()
    first = await make_user(staff=True, name="Ada Firstapprover")
    second = await make_user(staff=True, name="Bo Second")
    for _ in range(5):
        await paid_card_deposit(session_factory, settings, configured, uid, "500.00")
    big = [await request(session_factory, settings, uid, amount) for amount in ("1100.00", "1200.00")]
    for payment in big:  # above the 1000 threshold: one approval leaves each waiting
        _, done = await approve(session_factory, first, payment.id)
        assert not done

    cid = await client_gid(session_factory, uid)
    with statements(runtime) as seen:
        got = await run_as(schema, runtime, finance(second), PENDING, c=cid)
    assert got.errors is None, got.errors
    mine = {n["id"]: n for n in got.data["payments"]["nodes"]
            if n["id"] in {global_id("Payment", p.id) for p in big}}
    assert len(mine) == 2
    for node in mine.values():
        assert node["approval"] == "awaiting"
        [only] = node["approvals"]
        assert only["name"] == "Ada Firstapprover" and only["staffUserId"] == global_id("StaffUser", first)
        assert only["approvedAt"]
    # one statement for the page's approvals, however many payments it holds
    assert sum("FROM payment_approvals a JOIN users" in s for s in seen) == 1, seen

    # the client who made it, and staff without payments.approve_withdrawal, are refused the approvers
    own = await run_as(schema, runtime, client(uid), ONE, i=global_id("Payment", big[0].id))
    assert own.data["payment"] == {"id": global_id("Payment", big[0].id), "approvals": None}
    assert [e.extensions["code"] for e in own.errors] == ["FORBIDDEN"]
    desk = await run_as(schema, runtime, support(second), STAFF_ONE, c=await client_gid(session_factory, uid))
    assert desk.data is not None and all(n["approvals"] is None for n in desk.data["payments"]["nodes"])
    assert desk.data["payments"]["nodes"] and {e.extensions["code"] for e in desk.errors} == {"FORBIDDEN"}


async def test_a_deposit_has_no_approvers_and_an_approved_withdrawal_lists_both(
        configured, schema, runtime, session_factory, settings, make_user):
    uid = await make_user()
    first, second = await make_user(staff=True, name="Cy One"), await make_user(staff=True, name="Di Two")
    deposits = [await paid_card_deposit(session_factory, settings, configured, uid, "500.00") for _ in range(3)]
    payment = await request(session_factory, settings, uid, "1300.00")
    await approve(session_factory, first, payment.id)
    _, done = await approve(session_factory, second, payment.id)
    assert done
    got = await run_as(schema, runtime, finance(second), STAFF_ONE.replace("approvals { name }",
                                                                           "approvals { name } reference"),
                       c=await client_gid(session_factory, uid))
    assert got.errors is None, got.errors
    by_id = {n["id"]: n for n in got.data["payments"]["nodes"]}
    assert by_id[global_id("Payment", payment.id)]["approvals"] == [{"name": "Cy One"}, {"name": "Di Two"}]
    assert by_id[global_id("Payment", deposits[0].id)]["approvals"] == []


WAITING = """{ pendingWithdrawals(last: 50) { nodes { id reference approvals { staffUserId name approvedAt } } } }"""


async def test_the_waiting_page_reads_approvals_with_the_page_and_decides_per_principal(
        configured, schema, runtime, session_factory, settings, make_user):
    """pendingWithdrawals reads its rows' approvals in the page's statement when selected (no loader
    batch), the row's permission decided once per operation; an allowed and a refused principal on
    the same schema, interleaved and concurrent, each get their own answer (nothing is remembered
    from one operation for the next)."""
    import asyncio

    uid = await make_user()
    first, second = await make_user(staff=True, name="Eve Pagefirst"), await make_user(staff=True)
    for _ in range(7):
        await paid_card_deposit(session_factory, settings, configured, uid, "500.00")
    waiting = [await request(session_factory, settings, uid, amount) for amount in ("1400.00", "1500.00")]
    for payment in waiting:
        await approve(session_factory, first, payment.id)
    mine = {global_id("Payment", p.id) for p in waiting}

    def approvers(got: Any) -> dict[str, Any]:
        assert got.errors is None, got.errors
        return {n["id"]: n["approvals"] for n in got.data["pendingWithdrawals"]["nodes"] if n["id"] in mine}

    with statements(runtime) as seen:
        allowed = approvers(await run_as(schema, runtime, finance(second), WAITING))
    assert {k: [a["name"] for a in v] for k, v in allowed.items()} == {k: ["Eve Pagefirst"] for k in mine}
    assert all(v[0]["staffUserId"] == global_id("StaffUser", first) and v[0]["approvedAt"] for v in allowed.values())
    # one statement: the page's, which reads each row's approvals (no loader batch after it)
    [page] = [s for s in seen if "payment_approvals" in s or "FROM payments" in s]
    assert "FROM payment_approvals a JOIN users" in page and "approval = 'awaiting'" in page, seen

    # a principal without payments.approve_withdrawal: the page is refused, and on the staff list each
    # row's approvals are refused, before and after the allowed principal's operations, and alongside them
    refused = support(second)
    cid = await client_gid(session_factory, uid)

    async def denied() -> None:
        page = await run_as(schema, runtime, refused, WAITING)
        assert page.data is None and [e.extensions["code"] for e in page.errors] == ["FORBIDDEN"]
        rows = await run_as(schema, runtime, refused, STAFF_ONE, c=cid)
        assert rows.data["payments"]["nodes"] and all(n["approvals"] is None for n in rows.data["payments"]["nodes"])
        assert {e.extensions["code"] for e in rows.errors} == {"FORBIDDEN"}

    async def granted() -> None:
        assert approvers(await run_as(schema, runtime, finance(second), WAITING)) == allowed
        rows = await run_as(schema, runtime, finance(second), STAFF_ONE, c=cid)
        assert rows.errors is None, rows.errors
        assert {n["id"]: [a["name"] for a in n["approvals"]] for n in rows.data["payments"]["nodes"]
                if n["id"] in mine} == {k: ["Eve Pagefirst"] for k in mine}

    await denied()
    await granted()
    await denied()
    await asyncio.gather(granted(), denied(), granted(), denied())
