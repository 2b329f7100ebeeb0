"""The IB asks for its payout in the portal (`requestMyIbPayout`): its last closed cycle period, paid as the job
would, once; exact refusals that write nothing; replays by idempotency key; another IB neither sees nor pays it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from domain.ib import partners
from domain.ib.plans import ClauseKind, ClauseSpec, Distribution
from domain.shared.db import in_transaction, utcnow
from tests.conftest import GraphQLClient
from tests.ib.conftest import STAFF, World
from tests.ib.test_engine import make_plan
from tests.ib.test_payout_runs import _backdate, _counts
from tests.ib.test_payouts import _balances
from tests.ib.test_portal import signed_in_ib
from tests.identity.helpers import register

D = Decimal
REQUEST = """mutation($i: RequestMyIbPayoutInput!) { requestMyIbPayout(input: $i) { run { periodKey ibs replayed
  created { id amount status periodKey } existing { id } } errors { code field } } }"""
MINE = """{ myIbPayouts { nodes { id amount status periodKey } } }"""


async def test_an_ib_requests_its_payout_once_and_only_its_own(world: World, http: httpx.AsyncClient,
                                                                services: Any) -> None:
    # given a signed-in IB on a daily cycle that earned 3 lots x $5 = 15.00 two days ago, and another IB
    ib, gql = await signed_in_ib(world, http)
    _, other = await signed_in_ib(world, http)
    login = await world.account(await world.client_of(ib))
    await make_plan(world, Distribution.OVERRIDE, [ClauseSpec(ClauseKind.PER_LOT, (D(5),), max_total=D(5))],
                    ibs=(ib,))
    await world.trade([world.deal(login, volume="3")])
    await in_transaction(world.factory, lambda s: partners.update_settings(
        s, STAFF, ib, partners.SettingsChange(payout_cycle="daily", payout_min=D("10"))))
    await _backdate(services.owner_url, ib)
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()

    # refusals: a blank key, a caller who is no IB: exact codes, nothing written
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    before = await _counts(world.factory)
    body = await gql(REQUEST, {"i": {"idempotencyKey": " "}})
    assert [(e["code"], e["field"]) for e in body["data"]["requestMyIbPayout"]["errors"]] == [
        ("VALIDATION_FAILED", "idempotencyKey")]
    body = await client(REQUEST, {"i": {"idempotencyKey": "k1"}})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await _counts(world.factory) == before
    assert await _balances(world, ib) == (D("15.00"), D(0))

    # the request pays yesterday (the last closed daily period) to the IB's wallet
    made = (await gql(REQUEST, {"i": {"idempotencyKey": f"req-{ib}"}}))["data"]["requestMyIbPayout"]
    assert made["errors"] == []
    run = made["run"]
    assert (run["periodKey"], run["ibs"], run["replayed"], run["existing"]) == (yesterday, 1, False, [])
    assert [(p["amount"], p["status"], p["periodKey"]) for p in run["created"]] == [("15.00", "paid", yesterday)]
    assert await _balances(world, ib) == (D(0), D("15.00"))
    assert (await gql(MINE))["data"]["myIbPayouts"]["nodes"] == [
        {"id": run["created"][0]["id"], "amount": "15.00", "status": "paid", "periodKey": yesterday}]

    # the same key replays; a new key finds the period paid and pays nothing again
    again = (await gql(REQUEST, {"i": {"idempotencyKey": f"req-{ib}"}}))["data"]["requestMyIbPayout"]
    assert again == {"run": {**run, "replayed": True}, "errors": []}
    second = (await gql(REQUEST, {"i": {"idempotencyKey": f"req-{ib}-2"}}))["data"]["requestMyIbPayout"]["run"]
    assert second["created"] == [] and second["existing"] == [{"id": run["created"][0]["id"]}]
    assert await _balances(world, ib) == (D(0), D("15.00"))

    # another IB: sees none of it, and its own request pays it nothing (nothing due)
    assert (await other(MINE))["data"]["myIbPayouts"]["nodes"] == []
    theirs = (await other(REQUEST, {"i": {"idempotencyKey": f"req-{ib}"}}))["data"]["requestMyIbPayout"]
    assert theirs["errors"] == [] and theirs["run"]["created"] == [] and theirs["run"]["existing"] == []
    assert await _balances(world, ib) == (D(0), D("15.00"))
    audit = await world.sql("SELECT count(*) FROM audit_events WHERE action = 'ib.payout_requested' "
                            "AND after->>'ib_id' = :ib", ib=str(ib))
    assert audit[0][0] == 2
