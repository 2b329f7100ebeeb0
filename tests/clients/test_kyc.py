"""KYC through the Sumsub stand-in over HTTP: the client starts a verification, Sumsub calls our real
/webhooks/sumsub with a digest-signed verdict, and the verdict moves the client on. Unsigned and
mis-signed deliveries are refused with nothing written, a redelivery changes nothing; verdicts
delivered out of order settle on the newest."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.clients.errors import KycProviderUnavailable
from domain.clients.kyc_port import FINAL, RED, kyc_settings
from domain.clients.sumsub import SumsubProvider
from sandbox.kyc import KycStandIn
from tests.clients.conftest import OLD_WEBHOOK_SECRET
from tests.clients.flow import DECIDE, snapshot, to_profile
from tests.conftest import GraphQLClient
from tests.identity.staff import make_staff
from tests.ids import db_id

START = """mutation { startKycVerification { verification { provider applicantId accessToken }
  errors { field code message } } }"""
MY_STATUS = "{ myClient { status } }"
CLIENT_360 = """query($c: ID!) { client(id: $c) { status documents { nodes { status } }
  kyc { provider applicantId verdict rejectType reason verdictAt } } }"""


async def _started(http: httpx.AsyncClient, session_factory: Any, kyc: KycStandIn) -> tuple[GraphQLClient, str, str]:
    client, _, client_id = await to_profile(http, session_factory)
    body = await client(START)
    payload = body["data"]["startKycVerification"]
    assert payload["errors"] == [], payload
    return client, client_id, payload["verification"]["applicantId"]


async def _status(client: GraphQLClient) -> str:
    return str((await client(MY_STATUS))["data"]["myClient"]["status"])


async def _written(session_factory: Any) -> dict[str, Any]:
    counts: dict[str, Any] = await snapshot(session_factory)
    async with session_factory() as s:
        counts["webhook_events"] = await s.scalar(text("SELECT count(*) FROM webhook_events"))
        counts["verdicts"] = list(await s.execute(text(
            "SELECT client_id, verdict, verdict_at FROM kyc_applicants ORDER BY client_id")))
    return counts


async def test_verified_client_moves_to_review_and_staff_see_the_verdict(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, kyc: KycStandIn) -> None:
    # given a client with a profile and answers but no uploaded documents
    client, client_id, applicant_id = await _started(http, session_factory, kyc)
    assert await _status(client) == "PROFILE_COMPLETE"
    # the SDK token is the provider's, for our applicant; starting again reuses the applicant
    again = (await client(START))["data"]["startKycVerification"]["verification"]
    assert again["applicantId"] == applicant_id and again["provider"] == "sumsub"
    assert kyc.tokens[again["accessToken"]] == f"client-{db_id(client_id)}"
    assert kyc.applicants[applicant_id]["fixedInfo"]["country"] == "DE"

    # when the provider reviews the applicant GREEN and calls our webhook
    response = await kyc.deliver(kyc.review(applicant_id, "GREEN"))

    # then the verdict is applied: submitted for compliance review, audited, visible to staff
    assert response.status_code == 200 and response.json() == {"status": "applied"}, response.text
    assert await _status(client) == "UNDER_REVIEW"
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    view = (await compliance.client(CLIENT_360, {"c": client_id}))["data"]["client"]
    assert view["kyc"]["verdict"] == "green" and view["kyc"]["applicantId"] == applicant_id
    assert view["kyc"]["verdictAt"] is not None
    async with session_factory() as s:
        actions = list(await s.scalars(text(
            "SELECT action FROM audit_events WHERE entity_type = 'client' AND entity_id = :c ORDER BY id"),
            {"c": str(db_id(client_id))}))
    assert "kyc.applicant_created" in actions and "kyc.verdict_received" in actions
    # and manual review remains: compliance decides
    decided = await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "KYC green"})
    assert decided["data"]["decideClient"] == {"client": {"status": "APPROVED", "riskLevel": "low"}, "errors": []}


async def test_unsigned_missigned_and_redelivered_webhooks_write_nothing(
        http: httpx.AsyncClient, session_factory: Any, kyc: KycStandIn) -> None:
    client, _, applicant_id = await _started(http, session_factory, kyc)
    delivery = kyc.review(applicant_id, "RED", reject_type="FINAL", comment="forged passport")
    before = await _written(session_factory)

    unsigned = await kyc.deliver(delivery, headers={"Content-Type": "application/json"})
    wrong_secret = await kyc.deliver(delivery, headers=kyc.sign(delivery.body, secret="not-ours"))
    tampered = await kyc.deliver(type(delivery)(delivery.body.replace(b"FINAL", b"RETRY"), delivery.headers,
                                                delivery.type))
    unknown_alg = await kyc.deliver(delivery, headers={**delivery.headers, "x-payload-digest-alg": "MD5_HEX"})

    responses = (unsigned, wrong_secret, tampered, unknown_alg)
    assert [r.status_code for r in responses] == [401, 401, 401, 400]
    assert [r.json()["errors"][0]["extensions"]["code"] for r in responses] == [
        "WEBHOOK_SIGNATURE_INVALID", "WEBHOOK_SIGNATURE_INVALID", "WEBHOOK_SIGNATURE_INVALID", "WEBHOOK_MALFORMED"]
    assert await _written(session_factory) == before
    assert await _status(client) == "PROFILE_COMPLETE"

    # the genuine delivery is applied once; Sumsub's redelivery of the same payload changes nothing
    assert (await kyc.deliver(delivery)).json() == {"status": "applied"}
    assert await _status(client) == "REJECTED"
    after = await _written(session_factory)
    redelivered = await kyc.deliver(delivery)
    assert redelivered.status_code == 200 and redelivered.json() == {"status": "duplicate"}
    assert await _written(session_factory) == after


async def test_out_of_order_verdicts_settle_on_the_newest(http: httpx.AsyncClient, session_factory: Any,
                                                         kyc: KycStandIn) -> None:
    client, client_id, applicant_id = await _started(http, session_factory, kyc)
    now_ms = int(time.time() * 1000)
    older_retry = kyc.review(applicant_id, "RED", reject_type="RETRY", comment="blurry", at_ms=now_ms - 60_000)
    newer_green = kyc.review(applicant_id, "GREEN", at_ms=now_ms - 30_000)

    # the newer GREEN arrives first and is applied; the older RED after it is acknowledged, not applied
    assert (await kyc.deliver(newer_green)).json() == {"status": "applied"}
    assert (await kyc.deliver(older_retry)).json() == {"status": "stale"}
    assert await _status(client) == "UNDER_REVIEW"

    # a later FINAL rejection, signed with the provider's previous secret during rotation, wins
    final = kyc.review(applicant_id, "RED", reject_type="FINAL", comment="document forged", at_ms=now_ms,
                       secret=OLD_WEBHOOK_SECRET)
    assert (await kyc.deliver(final)).json() == {"status": "applied"}
    assert await _status(client) == "REJECTED"
    async with session_factory() as s:
        verdict, reject_type, reason = (await s.execute(text(
            "SELECT verdict, reject_type, reason FROM kyc_applicants WHERE client_id = :c"),
            {"c": db_id(client_id)})).one()
        history = await s.scalar(text(
            "SELECT reason FROM client_status_history WHERE client_id = :c ORDER BY id DESC LIMIT 1"),
            {"c": db_id(client_id)})
    assert (verdict, reject_type, reason) == ("red", "final", "document forged")
    assert "document forged" in history

    # the adapter fetches the same verdict from the provider (what the poll job uses)
    provider = SumsubProvider(kyc_settings())
    try:
        fetched = await provider.fetch_verdict(applicant_id)
    finally:
        await provider.aclose()
    assert (fetched.verdict, fetched.reject_type, fetched.reason) == (RED, FINAL, "document forged")


async def test_adapter_requests_are_signed(kyc: KycStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREXCRM_KYC_SECRET_KEY", "not-the-secret")
    refused = kyc.refused
    provider = SumsubProvider(kyc_settings())
    try:
        with pytest.raises(KycProviderUnavailable):
            await provider.fetch_verdict("anything")
    finally:
        await provider.aclose()
    assert kyc.refused == refused + 1
