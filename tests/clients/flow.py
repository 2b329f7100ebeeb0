"""Steps of the onboarding path through the schema, shared by the tests."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select, text

from domain.events.outbox import OutboxEvent
from domain.shared.settings import Settings
from jobs.notifications import send_email
from tests.clients.conftest import upload
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import PASSWORD
from tests.smtp import smtp_server

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
REGISTER = """mutation($i: RegisterClientInput!) { registerClient(input: $i) {
  client { id status } accessToken errors { field code message } } }"""
VERIFY = "mutation($t: String!) { verifyClientEmail(token: $t) { client { status } errors { code } } }"
PROFILE = "mutation($i: ProfileInput!) { updateMyProfile(input: $i) { client { status country } errors { field code } } }"
UPLOAD = """mutation($k: String!, $f: Upload!, $e: Date) { uploadDocument(kind: $k, file: $f, expiresOn: $e) {
  document { id kind status sha256 contentType } errors { field code } } }"""
ANSWERS = [{"question": "experience", "option": "often"}, {"question": "stop_out", "option": "closed"},
           {"question": "leverage", "option": "thirty"}, {"question": "loss_capacity", "option": "yes"}]
QUESTIONNAIRE = """mutation($a: [AnswerInput!]!) { submitQuestionnaire(answers: $a) {
  result { score riskCategory blockedProducts } errors { code } } }"""
SUBMIT = "mutation { submitApplication { client { status } errors { field code } } }"
DECIDE = """mutation($c: ID!, $d: ReviewDecision!, $r: String!) { decideClient(clientId: $c, decision: $d, reason: $r) {
  client { status riskLevel } errors { code } } }"""


def profile_input(**overrides: Any) -> dict[str, Any]:
    base = {"firstName": "Anna", "lastName": unique("Weber"), "dateOfBirth": "1985-04-12", "country": "DE",
            "phone": "+49 30 901820", "addressLine": "Unter den Linden 1", "city": "Berlin", "postalCode": "10117",
            "taxResidencies": [{"country": "DE", "tin": "12345678901"}], "employmentStatus": "employed",
            "sourceOfFunds": "salary", "occupation": "Engineer"}
    return {**base, **overrides}


async def verification_token(session_factory: Any, email: str) -> str:
    """Delivers the queued email over SMTP to a real server and reads the token from the message."""
    async with session_factory() as s:
        rows = list(await s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "email.send")
                                    .order_by(OutboxEvent.id.desc())))
    payload = next(r.payload for r in rows if r.payload["to"] == email)
    with smtp_server() as (inbox, port):
        await send_email({"settings": Settings(smtp_url=f"smtp://127.0.0.1:{port}")}, 1, "email.send", payload)
        for _ in range(100):
            if inbox.to(email):
                break
            await asyncio.sleep(0.02)
        [message] = inbox.to(email)
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(r"token=([A-Za-z0-9_\-]+)", body)
    assert match, body
    return match.group(1)


async def registered(http: httpx.AsyncClient, email: str | None = None, **extra: Any) -> tuple[GraphQLClient, str, str]:
    email = email or f"{unique('client')}@example.com"
    body = await GraphQLClient(http)(REGISTER, {"i": {"email": email, "password": PASSWORD, "displayName": "C",
                                                      **extra}})
    payload = body["data"]["registerClient"]
    assert payload["errors"] == [], payload
    return GraphQLClient(http, payload["accessToken"]), email, payload["client"]["id"]


async def to_profile(http: httpx.AsyncClient, session_factory: Any, **profile: Any) -> tuple[GraphQLClient, str, str]:
    """Register, verify, complete the profile and answer the questionnaire: no documents uploaded."""
    client, email, client_id = await registered(http)
    token = await verification_token(session_factory, email)
    assert (await client(VERIFY, {"t": token}))["data"]["verifyClientEmail"]["errors"] == []
    done = await client(PROFILE, {"i": profile_input(**profile)})
    assert done["data"]["updateMyProfile"]["errors"] == [], done
    answered = await client(QUESTIONNAIRE, {"a": ANSWERS})
    assert answered["data"]["submitQuestionnaire"]["errors"] == [], answered
    return client, email, client_id


async def to_documents(http: httpx.AsyncClient, session_factory: Any, upload_url: str,
                       **profile: Any) -> tuple[GraphQLClient, str, str]:
    """Register, verify, complete the profile, upload ID and address documents, answer the questionnaire."""
    client, email, client_id = await registered(http)
    token = await verification_token(session_factory, email)
    assert (await client(VERIFY, {"t": token}))["data"]["verifyClientEmail"]["errors"] == []
    done = await client(PROFILE, {"i": profile_input(**profile)})
    assert done["data"]["updateMyProfile"]["errors"] == [], done
    expiry = date(date.today().year + 5, 1, 1).isoformat()
    for kind, name, data, exp in (("proof_of_identity", "id.png", PNG, expiry),
                                  ("proof_of_address", "bill.pdf", PDF, None)):
        sent = await upload(http, upload_url, client.token or "", UPLOAD, {"k": kind, "e": exp}, {"f": (name, data)})
        assert sent["data"]["uploadDocument"]["errors"] == [], sent
    answered = await client(QUESTIONNAIRE, {"a": ANSWERS})
    assert answered["data"]["submitQuestionnaire"]["errors"] == [], answered
    return client, email, client_id


async def snapshot(session_factory: Any) -> dict[str, int]:
    """Row counts that a refused operation must leave unchanged."""
    tables = ("users", "clients", "client_status_history", "client_documents", "client_decisions",
              "client_account_requests", "audit_events", "outbox", "screening_results", "leads")
    async with session_factory() as s:
        return {t: int(await s.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in tables}
