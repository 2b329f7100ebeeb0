"""Bad input is refused with a typed error and leaves no trace (rows, audit, outbox)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from domain.identity import four_eyes
from tests.clients.conftest import upload
from tests.clients.flow import (
    DECIDE,
    PDF,
    PNG,
    PROFILE,
    REGISTER,
    SUBMIT,
    UPLOAD,
    VERIFY,
    profile_input,
    registered,
    snapshot,
    to_documents,
    verification_token,
)
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD
from tests.identity.staff import make_staff


async def test_registration_refusals(http: httpx.AsyncClient, session_factory: Any) -> None:
    _, taken, _ = await registered(http)
    anon = GraphQLClient(http)
    for email, code in ((f"{unique('x')}@mailinator.com", "DISPOSABLE_EMAIL"), ("not-an-email", "INVALID_EMAIL"),
                        (taken, "DUPLICATE_REGISTRATION")):
        before = await snapshot(session_factory)
        body = await anon(REGISTER, {"i": {"email": email, "password": PASSWORD}})
        assert [e["code"] for e in body["data"]["registerClient"]["errors"]] == [code], body
        assert await snapshot(session_factory) == before


async def test_profile_refusals(http: httpx.AsyncClient, session_factory: Any, brokerage: int) -> None:
    client, email, _ = await registered(http)
    assert (await client(VERIFY, {"t": await verification_token(session_factory, email)}))[
        "data"]["verifyClientEmail"]["errors"] == []
    adult_in_de_minor_in_ae = date(date.today().year - 19, 1, 1).isoformat()
    cases = [({"country": "XX"}, "INVALID_COUNTRY"), ({"phone": "+49 12"}, "INVALID_PHONE"),
             ({"country": "AE", "phone": "+971 4 312 3456", "dateOfBirth": adult_in_de_minor_in_ae}, "UNDER_AGE"),
             ({"country": "US", "phone": "+1 212 555 0100"}, "JURISDICTION_NOT_SERVED")]
    for overrides, code in cases:
        before = await snapshot(session_factory)
        body = await client(PROFILE, {"i": profile_input(**overrides)})
        assert [e["code"] for e in body["data"]["updateMyProfile"]["errors"]] == [code], body
        assert await snapshot(session_factory) == before
    ok = await client(PROFILE, {"i": profile_input(dateOfBirth=adult_in_de_minor_in_ae)})
    assert ok["data"]["updateMyProfile"]["client"]["status"] == "PROFILE_COMPLETE"


async def test_document_refusals(http: httpx.AsyncClient, session_factory: Any, upload_url: str,
                                 brokerage: int) -> None:
    client, email, _ = await registered(http)
    await client(VERIFY, {"t": await verification_token(session_factory, email)})
    await client(PROFILE, {"i": profile_input()})
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
    cases = [(b"", "DOCUMENT_EMPTY"), (PNG + b"\x00" * (8 * 1024 * 1024), "DOCUMENT_TOO_LARGE"),
             (exe, "DOCUMENT_TYPE_REFUSED"), (elf, "DOCUMENT_TYPE_REFUSED"),
             (b"just some text, not a scan", "DOCUMENT_TYPE_REFUSED")]
    for data, code in cases:
        before = await snapshot(session_factory)
        body = await upload(http, upload_url, client.token or "", UPLOAD, {"k": "proof_of_address", "e": None},
                            {"f": ("passport.pdf", data)})  # the extension is a lie the check must ignore
        assert [e["code"] for e in body["data"]["uploadDocument"]["errors"]] == [code], body
        assert await snapshot(session_factory) == before
    ok = await upload(http, upload_url, client.token or "", UPLOAD, {"k": "proof_of_address", "e": None},
                      {"f": ("scan.bin", PDF)})
    assert ok["data"]["uploadDocument"]["document"]["contentType"] == "application/pdf"


async def test_submit_before_steps_is_an_invalid_transition(http: httpx.AsyncClient, session_factory: Any) -> None:
    client, _, _ = await registered(http)
    before = await snapshot(session_factory)
    body = await client(SUBMIT)
    assert [e["code"] for e in body["data"]["submitApplication"]["errors"]] == ["INVALID_STATUS_TRANSITION"]
    assert await snapshot(session_factory) == before


async def test_submitter_cannot_approve_and_high_risk_needs_four_eyes(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str, brokerage: int) -> None:
    # Cyprus is configured high risk in the fixture.
    _, _, client_id = await to_documents(http, session_factory, upload_url, country="CY", phone="+357 22 123456",
                                         taxResidencies=[{"country": "CY", "tin": "CY123"}])
    first = await make_staff(http, session_factory, settings, ["compliance"])
    submitted = await first.client("""mutation($c: ID!) { submitClientForReview(clientId: $c) {
        client { status riskLevel } errors { code } } }""", {"c": client_id})
    assert submitted["data"]["submitClientForReview"]["client"] == {"status": "UNDER_REVIEW", "riskLevel": "high"}
    before = await snapshot(session_factory)
    own = await first.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "mine"})
    assert own["data"]["decideClient"]["errors"] == [{"code": "SUBMITTER_CANNOT_APPROVE"}]
    assert await snapshot(session_factory) == before

    second = await make_staff(http, session_factory, settings, ["compliance"])
    one = await second.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "looks fine"})
    assert one["data"]["decideClient"]["client"]["status"] == "UNDER_REVIEW"  # waits for a second approver
    twice = await second.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "again"})
    assert twice["data"]["decideClient"]["errors"] == [{"code": "SECOND_APPROVER_REQUIRED"}]
    # Someone the first approver created (or granted roles to) is not a second pair of eyes.
    creature = await make_staff(http, session_factory, settings, ["compliance"])
    async with session_factory() as s, s.begin():
        await four_eyes.record_provenance(s, subject_id=creature.user_id, actor_id=second.user_id, kind="created")
    before = await snapshot(session_factory)
    related = await creature.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "sure"})
    assert related["data"]["decideClient"]["errors"] == [{"code": "FOUR_EYES_RELATED_APPROVER"}]
    assert await snapshot(session_factory) == before
    third = await make_staff(http, session_factory, settings, ["compliance"])
    done = await third.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "agreed"})
    assert done["data"]["decideClient"]["client"]["status"] == "APPROVED"


async def test_a_form_reports_all_its_field_errors_at_once(http: httpx.AsyncClient, session_factory: Any,
                                                           brokerage: int) -> None:
    anon = GraphQLClient(http)
    before = await snapshot(session_factory)
    body = await anon(REGISTER, {"i": {"email": "not-an-email", "password": "short"}})
    assert sorted((e["field"], e["code"]) for e in body["data"]["registerClient"]["errors"]) == [
        ("email", "INVALID_EMAIL"), ("password", "WEAK_PASSWORD")], body
    assert await snapshot(session_factory) == before

    client, email, _ = await registered(http)
    await client(VERIFY, {"t": await verification_token(session_factory, email)})
    before = await snapshot(session_factory)
    wrong = profile_input(firstName=" ", phone="+49 12", city="", employmentStatus="astronaut",
                          taxResidencies=[{"country": "ZZ", "tin": ""}], dateOfBirth="1890-01-01")
    body = await client(PROFILE, {"i": wrong})
    assert body["data"]["updateMyProfile"]["client"] is None
    assert sorted((e["field"], e["code"]) for e in body["data"]["updateMyProfile"]["errors"]) == sorted([
        ("firstName", "VALIDATION_FAILED"), ("phone", "INVALID_PHONE"), ("city", "VALIDATION_FAILED"),
        ("employmentStatus", "VALIDATION_FAILED"), ("taxResidencies.country", "INVALID_COUNTRY"),
        ("taxResidencies.tin", "VALIDATION_FAILED"), ("dateOfBirth", "VALIDATION_FAILED")]), body
    assert await snapshot(session_factory) == before
