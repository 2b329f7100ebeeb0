"""The payments API over HTTP: methods, createDeposit -> stand-in PSP -> webhook, myPayments,
payment(id) ownership, requestWithdrawal with step-up, staff approval and payout."""

from __future__ import annotations

from sqlalchemy import text

from schema.node import global_id, key_of
from tests.conftest import GraphQLClient
from tests.identity.helpers import code_at, enrol_totp, register
from tests.identity.staff import make_staff
from tests.payments.conftest import CARD, onboarded

CREATE = """mutation($i: CreateDepositInput!) { createDeposit(input: $i) {
  payment { id reference status redirectUrl amount fee } errors { field code } } }"""
WITHDRAW = """mutation($i: RequestWithdrawalInput!) { requestWithdrawal(input: $i) {
  payment { id status approval amount } errors { field code } } }"""
APPROVE = "mutation($i: ID!) { approveWithdrawal(id: $i) { payment { id status approval } errors { code } } }"


async def test_deposit_and_withdrawal_over_graphql(configured, http, session_factory, settings):
    owner = await register(GraphQLClient(http))
    await onboarded(session_factory, int(owner["viewer"]["id"]))
    client = GraphQLClient(http, owner["accessToken"])

    methods = await client('{ paymentMethods(country: "DE", currency: "USD") { code kind minAmount maxAmount } }')
    assert {"code": CARD, "kind": "card", "minAmount": "10.00", "maxAmount": "5000.00"} in \
        methods["data"]["paymentMethods"]
    created = (await client(CREATE, {"i": {"methodCode": CARD, "currency": "USD", "amount": "120.00",
                                           "country": "DE"}}))["data"]["createDeposit"]
    assert created["errors"] == [] and created["payment"]["status"] == "PENDING"
    assert created["payment"]["fee"] == "2.40"
    session_id = created["payment"]["redirectUrl"].rsplit("/", 1)[-1]
    assert (await configured.deliver(configured.paid_event(session_id, payer_name="Test Client"))).status_code == 200
    mine = await client("{ myPayments(first: 5) { nodes { reference status } } }")
    assert mine["data"]["myPayments"]["nodes"] == [{"reference": created["payment"]["reference"],
                                                    "status": "SUCCEEDED"}]
    other = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    hidden = await other("query($i: ID!) { payment(id: $i) { reference } }", {"i": created["payment"]["id"]})
    assert hidden["data"] is None and hidden["errors"][0]["extensions"]["code"] == "PAYMENT_NOT_FOUND"

    ask = {"i": {"methodCode": CARD, "currency": "USD", "amount": "50.00", "idempotencyKey": "gql-wd-1"}}
    no_step_up = (await client(WITHDRAW, ask))["data"]["requestWithdrawal"]
    assert no_step_up == {"payment": None, "errors": [{"field": None, "code": "STEP_UP_REQUIRED"}]}
    secret, _ = await enrol_totp(client)
    stepped = await client("mutation($c: String!) { stepUp(code: $c) { ok errors { code } } }",
                           {"c": code_at(secret, 0)})
    assert stepped["data"]["stepUp"]["ok"] is True, stepped
    requested = (await client(WITHDRAW, ask))["data"]["requestWithdrawal"]
    assert requested["errors"] == [] and requested["payment"]["approval"] == "awaiting"

    staff = await make_staff(http, session_factory, settings, ["finance"])
    queue = await staff.client("{ pendingWithdrawals(first: 50) { nodes { id } } }")
    assert {"id": requested["payment"]["id"]} in queue["data"]["pendingWithdrawals"]["nodes"]
    approved = (await staff.client(APPROVE, {"i": requested["payment"]["id"]}))["data"]["approveWithdrawal"]
    assert approved["errors"] == [] and approved["payment"]["status"] == "PENDING"
    denied = await client(APPROVE, {"i": requested["payment"]["id"]})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


LOOKUP = """query($k: String!) { operationByIdempotencyKey(key: $k) { idempotencyKey status result } }"""
CREATE_KEYED = """mutation($i: CreateDepositInput!) { createDeposit(input: $i) {
  payment { id reference status } errors { field code } } }"""


async def test_create_deposit_with_an_idempotency_key_and_its_outcome_by_key(configured, http, session_factory):
    from sqlalchemy import text

    from tests.payments.conftest import WIRE

    owner = await register(GraphQLClient(http))
    await onboarded(session_factory, int(owner["viewer"]["id"]))
    client = GraphQLClient(http, owner["accessToken"])
    deposit = {"methodCode": WIRE, "currency": "USD", "amount": "150.00", "country": "DE", "idempotencyKey": "dep-1"}
    assert (await client(LOOKUP, {"k": "dep-1"}))["data"]["operationByIdempotencyKey"] is None

    first = (await client(CREATE_KEYED, {"i": deposit}))["data"]["createDeposit"]
    again = (await client(CREATE_KEYED, {"i": deposit}))["data"]["createDeposit"]
    changed = (await client(CREATE_KEYED, {"i": {**deposit, "amount": "151.00"}}))["data"]["createDeposit"]

    assert first["errors"] == [] and first["payment"]["status"] == "PENDING"
    assert again == first  # the same deposit, not a second one
    assert changed == {"payment": None, "errors": [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]}
    async with session_factory() as s:
        owner_id = await s.scalar(text("SELECT user_id FROM payments WHERE id = :i"), {"i": key_of(first["payment"]["id"], "Payment")})
        assert await s.scalar(text("SELECT count(*) FROM payments WHERE user_id = :u"), {"u": owner_id}) == 1
    outcome = (await client(LOOKUP, {"k": "dep-1"}))["data"]["operationByIdempotencyKey"]
    assert outcome == {"idempotencyKey": "dep-1", "status": "SUCCEEDED",
                       "result": {"payment_id": key_of(first["payment"]["id"], "Payment")}}
    # another caller's keys are not theirs to read
    other = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    assert (await other(LOOKUP, {"k": "dep-1"}))["data"]["operationByIdempotencyKey"] is None
    anonymous = await GraphQLClient(http)(LOOKUP, {"k": "dep-1"})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


REFUND = """mutation($i: RefundDepositInput!) { refundDeposit(input: $i) {
  refund { paymentId providerRefundId status } errors { field code } } }"""


async def test_staff_refund_goes_to_the_provider_and_is_booked_by_its_webhook(configured, http, session_factory,
                                                                               settings):
    import asyncio

    from sqlalchemy import text

    from tests.payments.conftest import snapshot

    registered = await register(GraphQLClient(http))
    await onboarded(session_factory, int(registered["viewer"]["id"]))
    owner = GraphQLClient(http, registered["accessToken"])
    created = (await owner(CREATE, {"i": {"methodCode": CARD, "currency": "USD", "amount": "100.00",
                                          "country": "DE"}}))["data"]["createDeposit"]
    pid = created["payment"]["id"]
    assert (await configured.complete(created["payment"]["redirectUrl"].rsplit("/", 1)[-1])).status_code == 303
    staff = await make_staff(http, session_factory, settings, ["finance"])

    denied = await owner(REFUND, {"i": {"paymentId": pid, "amount": "10.00"}})
    before = await snapshot(session_factory)
    too_much = (await staff.client(REFUND, {"i": {"paymentId": pid, "amount": "100.01"}}))["data"]["refundDeposit"]
    unknown = (await staff.client(REFUND, {"i": {"paymentId": "999999999", "amount": "1.00"}}))["data"]["refundDeposit"]
    assert await snapshot(session_factory) == before
    made = (await staff.client(REFUND, {"i": {"paymentId": pid, "amount": "30.00"}}))["data"]["refundDeposit"]

    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert too_much == {"refund": None, "errors": [{"field": "amount", "code": "DISPUTE_EXCEEDS_PAYMENT"}]}
    assert unknown == {"refund": None, "errors": [{"field": "paymentId", "code": "PAYMENT_NOT_FOUND"}]}
    assert made["errors"] == [] and made["refund"]["providerRefundId"].startswith("re_")
    assert made["refund"]["paymentId"] == pid
    assert configured.refunds[made["refund"]["providerRefundId"]]["amount"] == 3000
    for _ in range(200):
        status = await owner("query($i: ID!) { payment(id: $i) { status } }", {"i": pid})
        if status["data"]["payment"]["status"] == "REFUNDED":
            break
        await asyncio.sleep(0.05)
    assert status["data"]["payment"]["status"] == "REFUNDED"
    async with session_factory() as s:
        audited = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'payment.refund_request' "
                                      "AND entity_id = :p"), {"p": str(key_of(pid, "Payment"))})
    assert audited == 1


STAFF_PAYMENTS = """query($s: [PaymentStatus!], $d: PaymentDirection, $n: Int) {
  payments(status: $s, direction: $d, first: $n) { nodes { id reference direction status } pageInfo { hasNextPage } } }"""


async def test_staff_payments_list_filters_by_status_and_direction_and_keeps_to_the_desk(
        configured, http, session_factory, settings):
    owner = await register(GraphQLClient(http))
    uid = int(owner["viewer"]["id"])
    await onboarded(session_factory, uid)
    async with session_factory() as s, s.begin():
        client_pk = await s.scalar(text("UPDATE clients SET desk = 'desk-pay', first_name = 'Paula', "
                                        "last_name = 'Payer' WHERE user_id = :u RETURNING id"), {"u": uid})
    client = GraphQLClient(http, owner["accessToken"])
    created = (await client(CREATE, {"i": {"methodCode": CARD, "currency": "USD", "amount": "120.00",
                                           "country": "DE"}}))["data"]["createDeposit"]
    assert created["errors"] == []
    deposit = created["payment"]

    finance = await make_staff(http, session_factory, settings, ["finance"])
    every = (await finance.client(STAFF_PAYMENTS, {"n": 100}))["data"]["payments"]["nodes"]
    assert every[0] == {"id": deposit["id"], "reference": deposit["reference"], "direction": "deposit",
                        "status": "PENDING"}
    pending = (await finance.client(STAFF_PAYMENTS, {"s": ["PENDING"], "d": "DEPOSIT", "n": 100}))["data"]
    assert deposit["id"] in {p["id"] for p in pending["payments"]["nodes"]}
    assert {(p["direction"], p["status"]) for p in pending["payments"]["nodes"]} == {("deposit", "PENDING")}
    succeeded = (await finance.client(STAFF_PAYMENTS, {"s": ["SUCCEEDED", "FAILED"], "n": 100}))["data"]
    assert deposit["id"] not in {p["id"] for p in succeeded["payments"]["nodes"]}
    withdrawals = (await finance.client(STAFF_PAYMENTS, {"d": "WITHDRAWAL", "n": 100}))["data"]
    assert {p["direction"] for p in withdrawals["payments"]["nodes"]} <= {"withdrawal"}

    # Desk staff see their desk's clients' payments only; staff without a desk none.
    on_desk = await make_staff(http, session_factory, settings, ["support"], desk="desk-pay")
    seen = (await on_desk.client(STAFF_PAYMENTS, {"n": 100}))["data"]["payments"]["nodes"]
    assert [p["id"] for p in seen] == [deposit["id"]]
    other_desk = await make_staff(http, session_factory, settings, ["support"], desk="desk-other")
    assert (await other_desk.client(STAFF_PAYMENTS, {"n": 100}))["data"]["payments"]["nodes"] == []
    no_desk = await make_staff(http, session_factory, settings, ["support"])
    assert (await no_desk.client(STAFF_PAYMENTS, {"n": 100}))["data"]["payments"]["nodes"] == []

    # One client's payments, each naming its client (one page of payments, one client statement).
    client_id = {"id": global_id("ClientSummary", client_pk), "databaseId": str(client_pk), "name": "Paula Payer"}
    by_client = """query($c: ID, $n: Int) { payments(clientId: $c, first: $n) { nodes { id
        client { id databaseId name } } } }"""
    for cid in (client_id["id"], client_id["databaseId"], global_id("Client360", client_pk)):
        mine = (await finance.client(by_client, {"c": cid, "n": 100}))["data"]["payments"]["nodes"]
        assert mine == [{"id": deposit["id"], "client": client_id}], mine
    listed = (await finance.client(by_client, {"n": 100}))["data"]["payments"]["nodes"]
    assert next(p for p in listed if p["id"] == deposit["id"])["client"]["id"] == client_id["id"]
    # An unknown client, or one off the desk of the staff member asking: an empty page; a bad id: INVALID_ID.
    assert (await finance.client(by_client, {"c": "99999999", "n": 10}))["data"]["payments"]["nodes"] == []
    assert (await other_desk.client(by_client, {"c": client_id["id"], "n": 10}))["data"]["payments"]["nodes"] == []
    assert [p["id"] for p in (await on_desk.client(by_client, {"c": client_id["id"], "n": 10}))["data"]["payments"][
        "nodes"]] == [deposit["id"]]
    bad_id = await finance.client(by_client, {"c": deposit["id"], "n": 10})
    assert bad_id["data"] is None and bad_id["errors"][0]["extensions"]["code"] == "INVALID_ID"
    # The client column needs clients.read: a client asking for its own payment's client is refused that field.
    own = await client("query($i: ID!) { payment(id: $i) { reference client { name } } }", {"i": deposit["id"]})
    assert own["data"]["payment"] is None or own["data"]["payment"]["client"] is None
    assert own["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # A client is refused, and a status the enum lacks is a validation error.
    denied = await client(STAFF_PAYMENTS, {"n": 10})
    assert denied["data"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await finance.client(STAFF_PAYMENTS, {"s": ["PAID"], "n": 10})
    assert "data" not in bad or bad["data"] is None
