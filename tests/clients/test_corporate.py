"""Corporate clients: company data validated (ISO country, registration number, date of
incorporation), directors validated like persons and screened like them at submission."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import orjson

from tests.clients.conftest import upload
from tests.clients.flow import (
    ANSWERS,
    PDF,
    PNG,
    PROFILE,
    QUESTIONNAIRE,
    SUBMIT,
    UPLOAD,
    VERIFY,
    profile_input,
    registered,
    snapshot,
    verification_token,
)
from tests.conftest import GraphQLClient, unique
from tests.identity.staff import make_staff


def company(**overrides: Any) -> dict[str, Any]:
    base = {"name": "Weber Trading GmbH", "registrationNumber": "hrb  123456 b", "country": "DE",
            "incorporatedOn": "2015-06-01",
            "directors": [{"firstName": "Klaus", "lastName": "Weber", "dateOfBirth": "1970-01-15", "country": "DE"},
                          {"firstName": "Ines", "lastName": "Moreau"}]}
    return {**base, **overrides}


async def corporate(http: httpx.AsyncClient, session_factory: Any) -> tuple[GraphQLClient, str]:
    client, email, client_id = await registered(http, corporate=True)
    token = await verification_token(session_factory, email)
    assert (await client(VERIFY, {"t": token}))["data"]["verifyClientEmail"]["errors"] == []
    return client, client_id


def director(**fields: Any) -> dict[str, Any]:
    return {"firstName": "Klaus", "lastName": "Weber", **fields}


async def test_company_and_director_data_are_validated(http: httpx.AsyncClient, session_factory: Any,
                                                       settings: Any, brokerage: int) -> None:
    client, client_id = await corporate(http, session_factory)
    future = (date.today() + timedelta(days=1)).isoformat()
    minor = date(date.today().year - 16, 1, 1).isoformat()
    refused: list[tuple[dict[str, Any] | None, str, str]] = [
        (None, "company", "VALIDATION_FAILED"),
        (company(country="XX"), "company.country", "INVALID_COUNTRY"),
        (company(country="Germany"), "company.country", "INVALID_COUNTRY"),
        (company(registrationNumber=""), "company.registrationNumber", "VALIDATION_FAILED"),
        (company(registrationNumber="HRB; DROP"), "company.registrationNumber", "VALIDATION_FAILED"),
        (company(registrationNumber="ABC-DEF"), "company.registrationNumber", "VALIDATION_FAILED"),
        (company(registrationNumber="1" * 61), "company.registrationNumber", "VALIDATION_FAILED"),
        (company(incorporatedOn=future), "company.incorporatedOn", "VALIDATION_FAILED"),
        (company(incorporatedOn="1500-01-01"), "company.incorporatedOn", "VALIDATION_FAILED"),
        (company(name="  "), "company.name", "VALIDATION_FAILED"),
        (company(directors=[]), "company.directors", "VALIDATION_FAILED"),
        (company(directors=[director(lastName=str(i)) for i in range(21)]), "company.directors",
         "VALIDATION_FAILED"),
        (company(directors=[director(), director(firstName=" klaus ")]), "company.directors", "VALIDATION_FAILED"),
        (company(directors=[director(lastName="")]), "company.directors.lastName", "VALIDATION_FAILED"),
        (company(directors=[director(dateOfBirth=minor)]), "company.directors.dateOfBirth", "UNDER_AGE"),
        (company(directors=[director(dateOfBirth=future)]), "company.directors.dateOfBirth", "UNDER_AGE"),
        (company(directors=[director(dateOfBirth="1890-01-01")]), "company.directors.dateOfBirth",
         "VALIDATION_FAILED"),
        # 20 is adult in Germany, not in the UAE (21).
        (company(directors=[director(dateOfBirth=date(date.today().year - 20, 1, 1).isoformat(), country="AE")]),
         "company.directors.dateOfBirth", "UNDER_AGE"),
        (company(directors=[director(country="ZZ")]), "company.directors.country", "INVALID_COUNTRY"),
    ]
    before = await snapshot(session_factory)
    for data, field, code in refused:
        sent = await client(PROFILE, {"i": profile_input(company=data)})
        assert sent["data"]["updateMyProfile"] == {"client": None, "errors": [{"field": field, "code": code}]}, (
            data, sent)
    assert await snapshot(session_factory) == before
    assert (await client("{ myClient { status } }"))["data"]["myClient"]["status"] == "EMAIL_VERIFIED"

    done = await client(PROFILE, {"i": profile_input(company=company())})
    assert done["data"]["updateMyProfile"] == {"client": {"status": "PROFILE_COMPLETE", "country": "DE"},
                                               "errors": []}
    staff = await make_staff(http, session_factory, settings, ["administrator"])
    view = await staff.client("query($c: ID!) { client(id: $c) { kind profileJson } }", {"c": client_id})
    stored = view["data"]["client"]
    assert stored["kind"] == "corporate"
    assert stored["profileJson"]["company"] == {
        "name": "Weber Trading GmbH", "registration_number": "HRB 123456 B", "country": "DE",
        "incorporated_on": "2015-06-01",
        "directors": [{"first_name": "Klaus", "last_name": "Weber", "date_of_birth": "1970-01-15", "country": "DE"},
                      {"first_name": "Ines", "last_name": "Moreau", "date_of_birth": None, "country": None}]}


async def test_directors_are_screened_like_individuals(http: httpx.AsyncClient, session_factory: Any, settings: Any,
                                                      upload_url: str, brokerage: int) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    listed = unique("Varkanov").replace("-", "")
    line = orjson.dumps({"id": f"t-{listed}", "schema": "Person", "properties": {
        "name": [f"Dmitri {listed}"], "topics": ["sanction"], "birthDate": ["1966-09-30"]}})
    loaded = await upload(http, upload_url, admin.client.token or "", """mutation($n: String!, $f: Upload!) {
        importScreeningList(name: $n, format: "ftm", file: $f) { screeningList { entityCount } errors { code } } }""",
                          {"n": unique("list")}, {"f": ("l.jsonl", line)})
    assert loaded["data"]["importScreeningList"]["errors"] == [], loaded

    client, client_id = await corporate(http, session_factory)
    # The listed person is the second director, name order reversed; the signatory is clean.
    directors = [director(), {"firstName": listed, "lastName": "Dmitri", "dateOfBirth": "1966-09-30",
                              "country": "CY"}]
    done = await client(PROFILE, {"i": profile_input(company=company(directors=directors))})
    assert done["data"]["updateMyProfile"]["errors"] == [], done
    expiry = date(date.today().year + 5, 1, 1).isoformat()
    for kind, name, data, exp in (("proof_of_identity", "id.png", PNG, expiry),
                                  ("proof_of_address", "bill.pdf", PDF, None),
                                  ("company_registration", "register.pdf", PDF, None)):
        sent = await upload(http, upload_url, client.token or "", UPLOAD, {"k": kind, "e": exp}, {"f": (name, data)})
        assert sent["data"]["uploadDocument"]["errors"] == [], sent
    assert (await client(QUESTIONNAIRE, {"a": ANSWERS}))["data"]["submitQuestionnaire"]["errors"] == []
    assert (await client(SUBMIT))["data"]["submitApplication"]["client"]["status"] == "UNDER_REVIEW"

    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    view = await compliance.client("query($c: ID!) { client(id: $c) { riskLevel screening { nodes { entityId status } } } }",
                                   {"c": client_id})
    hits = [h for h in view["data"]["client"]["screening"]["nodes"] if h["status"] == "pending"]
    assert hits == [{"entityId": f"t-{listed}", "status": "pending"}]
    assert view["data"]["client"]["riskLevel"] == "high"
