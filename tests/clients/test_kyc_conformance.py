"""The KYC port's conformance: every registered adapter, against its provider's stand-in, through our
GraphQL API and real webhook endpoint only. A new adapter adds its stand-in harness to HARNESSES."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.clients.kyc_port import adapters
from sandbox.kyc import SumsubStandIn
from tests.clients.flow import snapshot, to_profile
from tests.conftest import GraphQLClient
from tests.ids import db_id

START = """mutation { startKycVerification { verification { provider applicantId accessToken }
  errors { field code message } } }"""
MY_STATUS = "{ myClient { status } }"


@dataclass
class Harness:
    """What a conformance test needs from a provider's stand-in."""

    name: str
    stand_in: SumsubStandIn  # a union of the stand-ins when there are several

    async def finish(self, access_token: str, answer: str, reject_type: str = "RETRY") -> httpx.Response:
        """The person completes the provider's SDK; the provider reviews and calls our webhook."""
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(f"{self.stand_in.base_url}/websdk/submit", json={
                "accessToken": access_token, "reviewAnswer": answer, "reviewRejectType": reject_type,
                "moderationComment": "conformance"})

    def reviewed(self, applicant_id: str, answer: str) -> Any:
        return self.stand_in.review(applicant_id, answer)

    def other_events(self, applicant_id: str) -> list[Any]:
        return [self.stand_in.event(applicant_id, t) for t in ("applicantCreated", "applicantPending")]

    async def deliver(self, delivery: Any) -> httpx.Response:
        return await self.stand_in.deliver(delivery)

    async def unsigned(self, delivery: Any) -> httpx.Response:
        return await self.stand_in.deliver(delivery, headers={"Content-Type": "application/json"})

    async def missigned(self, delivery: Any) -> httpx.Response:
        return await self.stand_in.deliver(delivery, headers=self.stand_in.sign(delivery.body, secret="wrong"))


def _sumsub(request: pytest.FixtureRequest) -> Harness:
    stand_in: SumsubStandIn = request.getfixturevalue("kyc")  # configured as FOREXCRM_KYC_*
    return Harness("sumsub", stand_in)


HARNESSES = {"sumsub": _sumsub}


def test_every_adapter_has_a_harness() -> None:
    assert set(adapters()) <= set(HARNESSES)


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    name = request.param
    made = HARNESSES[name](request)
    monkeypatch.setenv("FOREXCRM_KYC_PROVIDER", name)
    yield made


async def _started(http: httpx.AsyncClient, session_factory: Any) -> tuple[GraphQLClient, str, dict[str, Any]]:
    client, _, client_id = await to_profile(http, session_factory)
    payload = (await client(START))["data"]["startKycVerification"]
    assert payload["errors"] == [], payload
    return client, client_id, payload["verification"]


async def _status(client: GraphQLClient) -> str:
    return str((await client(MY_STATUS))["data"]["myClient"]["status"])


async def _trace(session_factory: Any) -> dict[str, Any]:
    counts: dict[str, Any] = await snapshot(session_factory)
    async with session_factory() as s:
        counts["webhook_events"] = await s.scalar(text("SELECT count(*) FROM webhook_events"))
        counts["verdicts"] = list(await s.execute(text(
            "SELECT client_id, verdict, verdict_at FROM kyc_applicants ORDER BY client_id")))
    return counts


async def test_applicant_token_green_review_verifies_the_client(http, session_factory, harness) -> None:
    client, _, verification = await _started(http, session_factory)
    assert verification["provider"] == harness.name and verification["accessToken"]
    again = (await client(START))["data"]["startKycVerification"]["verification"]
    assert again["applicantId"] == verification["applicantId"]

    finished = await harness.finish(again["accessToken"], "GREEN")

    assert finished.status_code == 200, finished.text
    assert all(code == 200 for code in finished.json()["webhooks"])
    assert await _status(client) == "UNDER_REVIEW"


# RETRY keeps a client who has not submitted anything yet where they are (they verify again); FINAL ends it.
@pytest.mark.parametrize(("reject_type", "status"), [("RETRY", "PROFILE_COMPLETE"), ("FINAL", "REJECTED")])
async def test_red_review_retry_and_final(http, session_factory, harness, reject_type, status) -> None:
    client, client_id, verification = await _started(http, session_factory)

    await harness.finish(verification["accessToken"], "RED", reject_type)

    assert await _status(client) == status
    async with session_factory() as s:
        verdict, stored_type = (await s.execute(text(
            "SELECT verdict, reject_type FROM kyc_applicants WHERE client_id = :c"), {"c": db_id(client_id)})).one()
    assert (verdict, stored_type) == ("red", reject_type.lower())


async def test_bad_or_missing_signature_is_refused_with_no_trace(http, session_factory, harness) -> None:
    client, _, verification = await _started(http, session_factory)
    delivery = harness.reviewed(verification["applicantId"], "GREEN")
    before = await _trace(session_factory)

    missing, wrong = await harness.unsigned(delivery), await harness.missigned(delivery)

    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert await _trace(session_factory) == before
    assert await _status(client) == "PROFILE_COMPLETE"


async def test_duplicate_webhook_is_idempotent(http, session_factory, harness) -> None:
    client, _, verification = await _started(http, session_factory)
    delivery = harness.reviewed(verification["applicantId"], "GREEN")

    first = await harness.deliver(delivery)
    after_first = await _trace(session_factory)
    second = await harness.deliver(delivery)

    assert first.json() == {"status": "applied"} and second.json() == {"status": "duplicate"}
    assert await _trace(session_factory) == after_first
    assert await _status(client) == "UNDER_REVIEW"


async def test_other_event_types_are_acknowledged_and_change_nothing(http, session_factory, harness) -> None:
    client, _, verification = await _started(http, session_factory)

    responses = [await harness.deliver(d) for d in harness.other_events(verification["applicantId"])]

    assert [r.json() for r in responses] == [{"status": "ignored"}] * len(responses)
    assert await _status(client) == "PROFILE_COMPLETE"
