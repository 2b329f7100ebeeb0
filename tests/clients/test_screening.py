"""Screening: matching robust to transliteration, word order, diacritics and typos; list formats;
a hit waits for review, blocks approval, and once confirmed blocks the client."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import httpx
import orjson

from domain.compliance import synthetic
from domain.compliance.lists import parse
from domain.compliance.matching import MatchIndex, Query
from tests.clients.conftest import SAMPLE_LIST, upload
from tests.clients.flow import DECIDE, SUBMIT, snapshot, to_documents
from tests.conftest import unique
from tests.identity.staff import make_staff
from tests.ids import db_id

OFAC = b'''36,"AKSONOV, Sergei Valerievich","individual","UKRAINE-EO13660",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 26 Nov 1972; a.k.a. 'AKSYONOV, Sergey'."
173,"ANGLO-CARIBBEAN CO., LTD.",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
'''


def test_variants_of_listed_names_match() -> None:
    index = MatchIndex.build(parse("ftm", SAMPLE_LIST.read_bytes()))
    rng = random.Random(3)
    for entity in index.entities[:40]:
        for kind, variant in synthetic.variants(entity.names[0], rng).items():
            found = [m.entity.entity_id for m in index.search(Query(variant))]
            assert entity.entity_id in found, (kind, variant, entity.names)


def test_ofac_sdn_csv_and_supporting_features() -> None:
    index = MatchIndex.build(parse("ofac", OFAC))
    assert len(index) == 2
    [hit] = index.search(Query("Sergey Aksyonov", date(1972, 11, 26)))
    assert hit.entity.entity_id == "ofac-36" and hit.score == 1.0
    # A different date of birth lowers the score below the threshold for a weaker name match.
    assert not index.search(Query("Sergei Aksenov", date(1990, 1, 1)))
    assert not index.search(Query("Maria Schmidt"))


async def test_hit_blocks_approval_until_confirmed_then_blocks_client(
        http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str, brokerage: int) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    listed = unique("Zorkovan").replace("-", "")
    line = orjson.dumps({"id": f"t-{listed}", "schema": "Person", "properties": {
        "name": [f"{listed} Petrovich"], "topics": ["sanction"], "birthDate": ["1970-03-02"]}})
    loaded = await upload(http, upload_url, admin.client.token or "", """mutation($n: String!, $f: Upload!) {
        importScreeningList(name: $n, format: "ftm", file: $f) { screeningList { entityCount } errors { code } } }""",
                          {"n": unique("list")}, {"f": ("l.jsonl", line)})
    assert loaded["data"]["importScreeningList"]["errors"] == [], loaded
    # The client writes the name in another order and with a typo.
    client, _, client_id = await to_documents(http, session_factory, upload_url, firstName="Petrovic",
                                              lastName=listed, dateOfBirth="1970-03-02")
    assert (await client(SUBMIT))["data"]["submitApplication"]["client"]["status"] == "UNDER_REVIEW"
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    hits = (await compliance.client("{ screeningHits(last: 100) { nodes { id clientId entityId score threshold } } }"))["data"]["screeningHits"]["nodes"]
    [hit] = [h for h in hits if db_id(h["clientId"]) == db_id(client_id)]
    assert hit["entityId"] == f"t-{listed}" and hit["score"] >= hit["threshold"]
    before = await snapshot(session_factory)
    refused = await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "ok"})
    assert refused["data"]["decideClient"]["errors"] == [{"code": "SCREENING_HIT_UNRESOLVED"}]
    assert await snapshot(session_factory) == before
    confirmed = await compliance.client("""mutation($r: ID!) { resolveScreeningHit(resultId: $r, confirmed: true,
        reason: "same person") { hit { status } errors { code } } }""", {"r": hit["id"]})
    assert confirmed["data"]["resolveScreeningHit"]["hit"]["status"] == "confirmed"
    view = await compliance.client("query($c: ID!) { client(id: $c) { status } }", {"c": client_id})
    assert view["data"]["client"]["status"] == "BLOCKED"
