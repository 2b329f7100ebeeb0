"""Reviewers view an uploaded (encrypted) KYC document through a short-lived signed link served by
the API: the decrypted bytes with their content type, inline disposition and no-store; every view
audited; tampered, expired, foreign and revoked links refused with nothing recorded or leaked.
E-mailed links follow FOREXCRM_PORTAL_URL, and the API answers those paths in development."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text

from domain.clients import document_links, documents
from domain.clients.models import Client
from domain.clients.registration import send_verification
from domain.clients.storage import default_store
from domain.events.outbox import OutboxEvent
from domain.identity.models import User
from domain.shared.actor import system_actor
from infra.logging import redact
from schema.node import global_id
from tests.clients.flow import PNG
from tests.clients.staff_world import audit_of, make_client, scalar
from tests.conftest import GraphQLClient
from tests.identity.staff import make_staff

LINK = """mutation($d: ID!) { documentViewLink(documentId: $d) { link { url expiresAt } errors { field code } } }"""
PNG_BODY = PNG + b"issue16-document"


async def _document(session_factory: Any, settings: Any, *, desk: str | None = None) -> tuple[int, int]:
    """(client id, document id): a PNG uploaded through the domain (encrypted in the store)."""
    cid, _, _ = await make_client(session_factory, settings, first="Doc", last="Owner", desk=desk,
                                    status="profile_complete")
    async with session_factory() as s, s.begin():
        client = await s.get(Client, cid)
        assert client is not None
        doc = await documents.upload(s, settings, default_store(settings), system_actor("test"), client,
                                     kind="proof_of_address", filename="Rechnung März.png", data=PNG_BODY,
                                     expires_on=None, today=date.today())
        return cid, int(doc.id)


def _viewed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["action"] == "client_document.viewed"]


async def test_a_reviewer_opens_the_document_once_through_its_link_and_each_view_is_audited(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    _, doc_id = await _document(session_factory, settings)
    reviewer = await make_staff(http, session_factory, settings, ["compliance"])
    link = (await reviewer.client(LINK, {"d": str(doc_id)}))["data"]["documentViewLink"]
    assert link["errors"] == []
    url = link["link"]["url"]
    assert url.startswith(settings.public_base_url.rstrip("/") + "/documents/")
    expires = datetime.fromisoformat(link["link"]["expiresAt"])
    assert timedelta(seconds=30) < expires - datetime.now(UTC) <= timedelta(seconds=61)

    path = url.split("/documents/", 1)[1]
    for _ in range(2):
        got = await http.get(f"/documents/{path}")
        assert got.status_code == 200 and got.content == PNG_BODY
        assert got.headers["content-type"] == "image/png"
        assert got.headers["cache-control"] == "no-store"
        assert got.headers["content-disposition"] == (
            "inline; filename=\"Rechnung M_rz.png\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.png")
    events = await audit_of(session_factory, "client_document", doc_id)
    assert [e["action"] for e in events] == ["client_document.uploaded", "client_document.view_link_issued",
                                             "client_document.viewed", "client_document.viewed"]
    assert {e["actor_user_id"] for e in events[1:]} == {reviewer.user_id}


async def test_tampered_expired_and_foreign_links_are_refused_and_record_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    cid, doc_id = await _document(session_factory, settings)
    _, other_doc = await _document(session_factory, settings)
    reviewer = await make_staff(http, session_factory, settings, ["compliance"])
    url = (await reviewer.client(LINK, {"d": str(doc_id)}))["data"]["documentViewLink"]["link"]["url"]
    token = url.split("/documents/", 1)[1]
    body, mac = token.split(".")
    claims = document_links.verify(settings, token)
    # The same signature over another document's claims, a flipped signature, garbage, an old link.
    forged_body = document_links._b64(f"{other_doc}.{claims.user_id}.{claims.session_id}.{claims.expires_at}"
                                      .encode())
    flipped = mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    expired = document_links.sign(settings, document_links.Claims(doc_id, claims.user_id, claims.session_id,
                                                                  int(time.time()) - 1))
    for bad, status, code in ((f"{forged_body}.{mac}", 404, "DOCUMENT_LINK_INVALID"),
                              (f"{body}.{flipped}", 404, "DOCUMENT_LINK_INVALID"),
                              ("not-a-token", 404, "DOCUMENT_LINK_INVALID"),
                              (expired, 410, "DOCUMENT_LINK_EXPIRED")):
        got = await http.get(f"/documents/{bad}")
        assert (got.status_code, got.json()) == (status, {"error": code}), bad
        assert got.headers["cache-control"] == "no-store" and PNG_BODY not in got.content
    assert _viewed(await audit_of(session_factory, "client_document", doc_id)) == []
    assert _viewed(await audit_of(session_factory, "client_document", other_doc)) == []

    # A link outlives nothing: once the reviewer's session ends it opens no document.
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE auth_sessions SET revoked_at = now() WHERE id = :i"), {"i": claims.session_id})
    revoked = await http.get(f"/documents/{token}")
    assert (revoked.status_code, revoked.json()) == (404, {"error": "NOT_FOUND"})
    assert _viewed(await audit_of(session_factory, "client_document", doc_id)) == []
    assert await scalar(session_factory, "SELECT count(*) FROM client_documents WHERE client_id = :c", c=cid) == 1


async def test_links_are_issued_only_to_reviewers_for_documents_they_may_see(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    _, doc_id = await _document(session_factory, settings, desk="docs-desk")
    issued_before = await scalar(session_factory, "SELECT count(*) FROM audit_events "
                                 "WHERE action = 'client_document.view_link_issued'")
    for roles, desk in ((["sales"], "docs-desk"), (["support"], None)):
        staff = (await make_staff(http, session_factory, settings, roles, desk=desk)).client
        refused = await staff(LINK, {"d": str(doc_id)})
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    owner_view = await GraphQLClient(http)(LINK, {"d": str(doc_id)})
    assert owner_view["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    reviewer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    for missing, code in (("999999999999", "NOT_FOUND"), ("x", "INVALID_ID"),
                          (global_id("ClientSummary", doc_id), "INVALID_ID")):
        body = (await reviewer(LINK, {"d": missing}))["data"]["documentViewLink"]
        assert body == {"link": None, "errors": [{"field": "documentId", "code": code}]}
    issued = await reviewer(LINK, {"d": global_id("ClientDocument", doc_id)})
    assert issued["data"]["documentViewLink"]["errors"] == [], issued
    assert await scalar(session_factory, "SELECT count(*) FROM audit_events "
                        "WHERE action = 'client_document.view_link_issued'") == issued_before + 1


def test_document_link_tokens_never_reach_a_log_line() -> None:
    """`redact` is what every log record passes through (structlog fields and stdlib records)."""
    token = "eyJkb2MiOjF9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    for line in (f'127.0.0.1 - "GET /documents/{token} HTTP/1.1" 200', f"http://api/documents/{token}?x=1"):
        assert token not in redact(line) and "/documents/[redacted]" in redact(line)


async def _mail_body(session_factory: Any, email: str) -> str:
    async with session_factory() as s:
        rows = list(await s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "email.send")
                                    .order_by(OutboxEvent.id.desc())))
    return str(next(r.payload for r in rows if r.payload["to"] == email)["body"])


async def test_emailed_links_follow_the_portal_url_setting(http: httpx.AsyncClient, session_factory: Any,
                                                           settings: Any) -> None:
    cid, uid, email = await make_client(session_factory, settings, first="P", last="Portal")
    async with session_factory() as s, s.begin():
        client, user = await s.get(Client, cid), await s.get(User, uid)
        assert client is not None and user is not None
        await send_verification(s, settings, client, user)
    default = await _mail_body(session_factory, email)
    assert re.search(re.escape(settings.public_base_url.rstrip("/")) + r"/verify-email\?token=[\w-]+", default)

    portal = settings.model_copy(update={"portal_url": "https://portal.broker.example/app/"})
    async with session_factory() as s, s.begin():
        client, user = await s.get(Client, cid), await s.get(User, uid)
        assert client is not None and user is not None
        await send_verification(s, portal, client, user)
    assert re.search(r"https://portal\.broker\.example/app/verify-email\?token=[\w-]+",
                     await _mail_body(session_factory, email))
    assert portal.portal_link("reset-password", "t") == "https://portal.broker.example/app/reset-password?token=t"
    assert portal.portal_link("confirm-email", "t") == "https://portal.broker.example/app/confirm-email?token=t"


async def test_the_api_answers_the_emailed_paths_in_development(http: httpx.AsyncClient) -> None:
    for path, mutation in (("verify-email", "verifyClientEmail"), ("reset-password", "resetPassword"),
                           ("confirm-email", "confirmEmailChange")):
        got = await http.get(f"/{path}", params={"token": "SECRET-TOKEN-123"})
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
        assert mutation in got.text and "FOREXCRM_PORTAL_URL" in got.text
        assert "SECRET-TOKEN-123" not in got.text and got.headers["cache-control"] == "no-store"
