"""The whole path through the schema: lead -> registered -> email verified (link read from a real
SMTP server) -> profile -> documents -> questionnaire -> screening -> approval -> live account on
the simulator through the MT5 adapter."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from domain.platforms.port import AccountRights
from schema.node import global_id
from tests.clients.conftest import SAMPLE_LIST, upload
from tests.clients.flow import (
    DECIDE,
    PROFILE,
    SUBMIT,
    VERIFY,
    profile_input,
    registered,
    snapshot,
    to_documents,
    verification_token,
)
from tests.conftest import GraphQLClient, unique
from tests.identity.staff import make_staff
from tests.ids import db_id

OPEN = """mutation($c: ID!, $k: String!, $l: Int) { openLiveAccount(clientId: $c, idempotencyKey: $k, leverage: $l) {
  account { login group leverage currency } status errors { field code } } }"""
VIEW = """query($c: ID!) { client(id: $c) { status email desk attribution riskLevel
  statusHistory { nodes { toStatus reason } } documents { nodes { kind status sha256 } } screening { nodes { listName listVersion
  matcherVersion score threshold status } } questionnaire { riskCategory } accounts { nodes { login group leverage } }
  communications { nodes { kind subject } } } }"""
IMPORT = """mutation($n: String!, $f: Upload!) { importScreeningList(name: $n, format: "ftm", file: $f) {
  screeningList { version entityCount } errors { code } } }"""


async def test_lead_to_live_account(http: httpx.AsyncClient, session_factory: Any, settings: Any, upload_url: str,
                                    brokerage: int, client_sim: Any) -> None:
    admin = await make_staff(http, session_factory, settings, ["administrator"])
    loaded = await upload(http, upload_url, admin.client.token or "", IMPORT, {"n": unique("sample")},
                          {"f": ("sample.jsonl", SAMPLE_LIST.read_bytes())})
    assert loaded["data"]["importScreeningList"]["screeningList"]["entityCount"] == 200, loaded

    # Lead with first-touch attribution, then a later touch at registration.
    email = f"{unique('lead')}@example.com"
    lead = await GraphQLClient(http)("""mutation($i: LeadInput!) { captureLead(input: $i) { ok errors { code } } }""",
                                     {"i": {"email": email, "country": "DE", "attribution": {
                                         "utmSource": "google", "utmCampaign": "spring"}}})
    assert lead["data"]["captureLead"] == {"ok": True, "errors": []}
    client, _, client_id = await registered(http, email, attribution={"utmSource": "newsletter"})
    assert (await client("{ myClient { status } }"))["data"]["myClient"]["status"] == "REGISTERED"

    token = await verification_token(session_factory, email)
    assert (await client(VERIFY, {"t": token}))["data"]["verifyClientEmail"] == {
        "client": {"status": "EMAIL_VERIFIED"}, "errors": []}
    replay = await client(VERIFY, {"t": token})
    assert replay["data"]["verifyClientEmail"]["errors"] == [{"code": "TOKEN_INVALID"}]

    done = await client(PROFILE, {"i": profile_input()})
    assert done["data"]["updateMyProfile"]["client"]["status"] == "PROFILE_COMPLETE", done
    client, email2, client_id = await to_documents(http, session_factory, upload_url)
    assert (await client("{ myClient { status riskCategory } }"))["data"]["myClient"] == {
        "status": "DOCUMENTS_SUBMITTED", "riskCategory": "low"}
    submitted = await client(SUBMIT)
    assert submitted["data"]["submitApplication"]["client"]["status"] == "UNDER_REVIEW", submitted

    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    queue = await compliance.client("{ reviewQueue(last: 100) { nodes { id } } }")  # oldest first: the newest page
    assert {"id": global_id("ClientSummary", db_id(client_id))} in queue["data"]["reviewQueue"]["nodes"]
    approved = await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "documents verified"})
    assert approved["data"]["decideClient"]["client"]["status"] == "APPROVED", approved

    dealer = await make_staff(http, session_factory, settings, ["dealer"])
    opened = await dealer.client(OPEN, {"c": client_id, "k": "initial", "l": None})
    account = opened["data"]["openLiveAccount"]["account"]
    assert opened["data"]["openLiveAccount"]["status"] == "created", opened
    assert account["group"] == "real\\standard" and account["leverage"] == 30  # ESMA major-FX cap for DE
    again = await dealer.client(OPEN, {"c": client_id, "k": "initial", "l": None})
    assert again["data"]["openLiveAccount"]["account"] == account  # idempotent: one account
    platform = client_sim.platform()
    try:
        info = await platform.get_account(int(account["login"]))
        assert (info.group, info.leverage, info.rights) == ("real\\standard", 30, AccountRights.ENABLED)
    finally:
        await platform.aclose()

    view = (await compliance.client(VIEW, {"c": client_id}))["data"]["client"]
    assert view["status"] == "ACTIVE" and view["email"] == email2
    assert [h["toStatus"] for h in view["statusHistory"]["nodes"]] == [
        "REGISTERED", "EMAIL_VERIFIED", "PROFILE_COMPLETE", "DOCUMENTS_SUBMITTED", "UNDER_REVIEW", "APPROVED",
        "ACTIVE"]
    assert {d["kind"] for d in view["documents"]["nodes"]} == {"proof_of_identity", "proof_of_address"}
    assert view["screening"]["nodes"] and all(r["status"] == "clear" and r["matcherVersion"] for r in view["screening"]["nodes"])
    assert view["accounts"]["nodes"] == [{"login": account["login"], "group": "real\\standard", "leverage": 30}]
    assert {"Confirm your email address", "Your account is approved", "Your live account is ready"} <= {
        c["subject"] for c in view["communications"]["nodes"]}

    # The lead's first touch stays with the client; the later touch is recorded on the lead.
    first = (await compliance.client(VIEW, {"c": (await _client_id_for(session_factory, email))}))["data"]["client"]
    assert first["attribution"] == {"utm_source": "google", "utm_campaign": "spring"}
    async with session_factory() as s:
        touches = await s.scalar(text("SELECT count(*) FROM lead_touches t JOIN leads l ON l.id = t.lead_id "
                                      "WHERE l.email_normalized = :e"), {"e": email})
    assert touches == 2


async def _client_id_for(session_factory: Any, email: str) -> str:
    async with session_factory() as s:
        return str(await s.scalar(text("SELECT c.id FROM clients c JOIN users u ON u.id = c.user_id "
                                       "WHERE u.email_normalized = :e"), {"e": email}))


async def test_leverage_above_cap_is_refused_without_trace(http: httpx.AsyncClient, session_factory: Any,
                                                          settings: Any, upload_url: str, brokerage: int) -> None:
    client, _, client_id = await to_documents(http, session_factory, upload_url)
    await client(SUBMIT)
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "ok"})
    dealer = await make_staff(http, session_factory, settings, ["dealer"])
    before = await snapshot(session_factory)
    refused = await dealer.client(OPEN, {"c": client_id, "k": "big", "l": 100})
    assert refused["data"]["openLiveAccount"]["errors"] == [{"field": "leverage", "code": "LEVERAGE_ABOVE_CAP"}]
    assert await snapshot(session_factory) == before
