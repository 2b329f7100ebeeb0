"""The client's nationality: optional on the profile, ISO-validated, stored with the profile (so sealed under the
client's key and audited sealed with it), and the country screening weighs for the person when given."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from domain.clients.models import Client
from domain.retention.identity import open_identity
from tests.clients.conftest import upload
from tests.clients.flow import (
    PROFILE,
    SUBMIT,
    VERIFY,
    profile_input,
    registered,
    snapshot,
    to_documents,
    verification_token,
)
from tests.clients.staff_world import audit_of
from tests.conftest import unique
from tests.identity.staff import make_staff
from tests.ids import db_id

MINE = "{ myClient { status country nationality } }"


async def test_nationality_round_trips_sealed_and_audited_and_a_bad_one_changes_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, brokerage: int) -> None:
    client, email, client_id = await registered(http)
    token = await verification_token(session_factory, email)
    assert (await client(VERIFY, {"t": token}))["data"]["verifyClientEmail"]["errors"] == []

    before = await snapshot(session_factory)
    for bad in ("ZZ", "Russia", "R"):
        refused = await client(PROFILE, {"i": profile_input(nationality=bad)})
        assert refused["data"]["updateMyProfile"] == {
            "client": None, "errors": [{"field": "nationality", "code": "INVALID_COUNTRY"}]}, bad
    assert await snapshot(session_factory) == before
    assert (await client(MINE))["data"]["myClient"] == {"status": "EMAIL_VERIFIED", "country": None,
                                                        "nationality": None}

    # Alpha-3 accepted and stored as alpha-2, beside a different country of residence.
    done = await client(PROFILE, {"i": profile_input(nationality="ukr")})
    assert done["data"]["updateMyProfile"]["errors"] == [], done
    assert (await client(MINE))["data"]["myClient"] == {"status": "PROFILE_COMPLETE", "country": "DE",
                                                        "nationality": "UA"}
    staff = await make_staff(http, session_factory, settings, ["administrator"])
    view = (await staff.client("query($c: ID!) { client(id: $c) { country nationality profileJson } }",
                               {"c": client_id}))["data"]["client"]
    assert view["country"] == "DE" and view["nationality"] == "UA" and view["profileJson"]["nationality"] == "UA"

    # A bad value on a later correction leaves the stored nationality as it was.
    stored = await snapshot(session_factory)
    refused = await client(PROFILE, {"i": profile_input(nationality="XX")})
    assert refused["data"]["updateMyProfile"]["errors"] == [{"field": "nationality", "code": "INVALID_COUNTRY"}]
    assert await snapshot(session_factory) == stored
    assert (await client(MINE))["data"]["myClient"]["nationality"] == "UA"

    # Identity data: in the copy sealed under the client's key, and only sealed in the audit trail.
    async with session_factory() as s:
        row = await s.get(Client, db_id(client_id))
        assert row is not None
        sealed = await open_identity(s, settings, row)
    assert sealed is not None and sealed["profile"]["nationality"] == "UA"
    [event] = [e for e in await audit_of(session_factory, "client", db_id(client_id))
               if e["action"] == "client.profile_updated"]
    # Only the residence country is in clear; the sealed value is ciphertext (base64 may spell "UA" by chance).
    assert set(event["after"]) == {"country", "sealed"} and event["after"]["country"] == "DE"

    # Left out on a correction, the nationality is no longer claimed.
    assert (await client(PROFILE, {"i": profile_input()}))["data"]["updateMyProfile"]["errors"] == []
    assert (await client(MINE))["data"]["myClient"]["nationality"] is None


async def test_screening_weighs_the_nationality_over_the_residence(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str, brokerage: int) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    listed = unique("Varkonev").replace("-", "")
    line = orjson.dumps({"id": f"t-{listed}", "schema": "Person", "properties": {
        "name": [f"{listed} Ilyich"], "topics": ["sanction"], "nationality": ["ru"]}})
    loaded = await upload(http, upload_url, admin.client.token or "", """mutation($n: String!, $f: Upload!) {
        importScreeningList(name: $n, format: "ftm", file: $f) { screeningList { entityCount } errors { code } } }""",
                          {"n": unique("list")}, {"f": ("l.jsonl", line)})
    assert loaded["data"]["importScreeningList"]["errors"] == [], loaded
    # Both live in Germany (which the listed person has nothing to do with); one is Russian, one French.
    scores: dict[str, float] = {}
    for nationality in ("RU", "FR"):
        client, _, client_id = await to_documents(http, session_factory, upload_url, firstName="Ilyich",
                                                  lastName=listed, nationality=nationality)
        assert (await client(SUBMIT))["data"]["submitApplication"]["errors"] == []
        compliance = await make_staff(http, session_factory, settings, ["compliance"])
        hits = (await compliance.client("{ screeningHits(last: 100) { nodes { clientId entityId score } } }")
                )["data"]["screeningHits"]["nodes"]
        [hit] = [h for h in hits if db_id(h["clientId"]) == db_id(client_id)]
        assert hit["entityId"] == f"t-{listed}"
        scores[nationality] = float(hit["score"])
    assert scores["RU"] > scores["FR"], scores
