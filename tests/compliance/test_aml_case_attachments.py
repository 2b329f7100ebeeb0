"""Files on an AML case: attached through the API's real multipart path, listed on the case, opened
through a signed link with the very bytes uploaded; a bad file, a closed or unknown case, or a caller
without the permission is refused and nothing is stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from domain.clients import document_links
from domain.compliance.aml import attachments
from schema.node import global_id
from tests.clients.staff_world import audit_of, scalar
from tests.compliance.test_aml_cases import _case
from tests.conftest import GraphQLClient, unique
from tests.identity.helpers import register
from tests.identity.staff import make_staff

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + bytes(range(256)) * 4
ADD = """mutation($c: ID!, $f: Upload!, $d: String!) { addAmlCaseAttachment(caseId: $c, file: $f, description: $d) {
  attachment { id caseId filename contentType sizeBytes sha256 description uploadedById createdAt }
  errors { field code } } }"""
LIST = """query($i: ID!) { node(id: $i) { ... on AmlCase { attachments { id filename sizeBytes sha256 } } } }"""
LINK = """mutation($a: ID!) { amlCaseAttachmentLink(attachmentId: $a) { link { url expiresAt }
  errors { field code } } }"""


async def _upload(http: httpx.AsyncClient, caller: GraphQLClient, case: str, name: str, data: bytes,
                  description: str = "bank statement") -> dict[str, Any]:
    """A GraphQL multipart request (operations, map, files) to the API itself."""
    headers = {"Apollo-Require-Preflight": "true", **({"Authorization": f"Bearer {caller.token}"}
                                                      if caller.token else {})}
    response = await http.post("/graphql", headers=headers, data={
        "operations": json.dumps({"query": ADD, "variables": {"c": case, "f": None, "d": description}}),
        "map": json.dumps({"f": ["variables.f"]})}, files={"f": (name, data)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _stored(settings: Any, case_id: int) -> set[Path]:
    """The case's blobs in the local store (the folder outlives a test database: compare before/after)."""
    root = Path(settings.data_dir) / "documents" / "aml-cases" / str(case_id)
    return set(root.glob("*")) if root.exists() else set()


async def _count(session_factory: Any, case_id: int) -> int:
    return int(await scalar(session_factory, "SELECT count(*) FROM aml_case_attachments WHERE case_id = :c",
                            c=case_id))


async def test_an_officer_attaches_lists_and_downloads_the_same_bytes(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    case_id = await _case(session_factory, unique("team"))
    officer = await make_staff(http, session_factory, settings, ["compliance"])
    cid = global_id("AmlCase", case_id)
    before = _stored(settings, case_id)

    added = (await _upload(http, officer.client, cid, "Kontoauszug März.bin", PDF))["data"]["addAmlCaseAttachment"]
    assert added["errors"] == [], added
    got = added["attachment"]
    assert got["caseId"] == cid and got["filename"] == "Kontoauszug März.bin"
    assert got["contentType"] == "application/pdf" and got["sizeBytes"] == len(PDF)  # by content, not the name
    assert got["uploadedById"] == global_id("StaffUser", officer.user_id) and got["description"] == "bank statement"
    assert got["sha256"] == hashlib.sha256(PDF).hexdigest()
    [blob] = _stored(settings, case_id) - before
    assert PDF[:64] not in blob.read_bytes()  # encrypted at rest

    listed = (await officer.client(LIST, {"i": cid}))["data"]["node"]["attachments"]
    assert listed == [{"id": got["id"], "filename": got["filename"], "sizeBytes": len(PDF), "sha256": got["sha256"]}]

    link = (await officer.client(LINK, {"a": got["id"]}))["data"]["amlCaseAttachmentLink"]
    assert link["errors"] == []
    prefix = settings.public_base_url.rstrip("/") + "/documents/aml/"
    assert link["link"]["url"].startswith(prefix)
    token = link["link"]["url"][len(prefix):]
    opened = await http.get(f"/documents/aml/{token}")
    assert opened.status_code == 200 and opened.content == PDF
    assert opened.headers["content-type"] == "application/pdf" and opened.headers["cache-control"] == "no-store"
    # A KYC document link's route does not take a case file's token (each signs under its own label).
    assert (await http.get(f"/documents/{token}")).status_code == 404

    events = [e["action"] for e in await audit_of(session_factory, "aml_case", case_id)]
    assert events[-3:] == ["aml.case_attachment", "aml.case_attachment_link_issued", "aml.case_attachment_viewed"]


async def test_bad_files_and_cases_are_refused_and_store_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    case_id = await _case(session_factory, unique("team"))
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    cid = global_id("AmlCase", case_id)
    before = _stored(settings, case_id)
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    cases = [(cid, b"", "file", "DOCUMENT_EMPTY"),
             (cid, PDF + b"\x00" * (8 * 1024 * 1024), "file", "DOCUMENT_TOO_LARGE"),
             (cid, exe, "file", "DOCUMENT_TYPE_REFUSED"),
             (cid, b"From: someone\r\nSubject: plain text\r\n\r\nhello", "file", "DOCUMENT_TYPE_REFUSED"),
             (global_id("AmlCase", 2**40), PDF, "caseId", "CASE_NOT_FOUND"),
             (global_id("AmlScenario", case_id), PDF, "caseId", "INVALID_ID")]
    for case, data, field, code in cases:
        body = (await _upload(http, officer, case, "statement.pdf", data))["data"]["addAmlCaseAttachment"]
        assert body == {"attachment": None, "errors": [{"field": field, "code": code}]}, body
    too_long = (await _upload(http, officer, cid, "s.pdf", PDF, "x" * 2001))["data"]["addAmlCaseAttachment"]
    assert too_long["errors"] == [{"field": "description", "code": "VALIDATION_FAILED"}]
    assert await _count(session_factory, case_id) == 0 and _stored(settings, case_id) == before

    closed = await officer("""mutation($c: ID!) { closeAmlCase(caseId: $c, outcome: FALSE_POSITIVE, note: "done") {
      errors { code } } }""", {"c": cid})
    assert closed["data"]["closeAmlCase"]["errors"] == []
    body = (await _upload(http, officer, cid, "late.pdf", PDF))["data"]["addAmlCaseAttachment"]
    assert body["errors"] == [{"field": "caseId", "code": "CASE_CLOSED"}]
    assert await _count(session_factory, case_id) == 0 and _stored(settings, case_id) == before
    unknown = (await officer(LINK, {"a": global_id("AmlCaseAttachment", 2**40)}))["data"]["amlCaseAttachmentLink"]
    assert unknown["errors"] == [{"field": "attachmentId", "code": "NOT_FOUND"}]


async def test_callers_without_the_permission_attach_and_see_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    case_id = await _case(session_factory, unique("team"))
    cid = global_id("AmlCase", case_id)
    officer = (await make_staff(http, session_factory, settings, ["compliance"])).client
    added = (await _upload(http, officer, cid, "a.pdf", PDF))["data"]["addAmlCaseAttachment"]["attachment"]
    stored = _stored(settings, case_id)
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    sales = (await make_staff(http, session_factory, settings, ["sales"])).client
    for outsider in (client, sales, GraphQLClient(http)):
        body = await _upload(http, outsider, cid, "b.pdf", PDF)
        assert body["data"] is None or body["data"]["addAmlCaseAttachment"] is None, body
        assert {e["extensions"]["code"] for e in body["errors"]} <= {"FORBIDDEN", "UNAUTHENTICATED"}, body
        link = await outsider(LINK, {"a": added["id"]})
        assert "url" not in json.dumps(link.get("data") or {}), link
        assert ((await outsider(LIST, {"i": cid})).get("data") or {}).get("node") is None
    assert await _count(session_factory, case_id) == 1 and _stored(settings, case_id) == stored
    # A link outlives nothing: once the reader's session ends (or a KYC document's label signs it) it opens nothing.
    url = (await officer(LINK, {"a": added["id"]}))["data"]["amlCaseAttachmentLink"]["link"]["url"]
    token = url.split("/documents/aml/", 1)[1]
    claims = document_links.verify(settings, token, info=attachments.LINK_INFO)
    as_document = document_links.sign(settings, claims)
    assert (await http.get(f"/documents/aml/{as_document}")).json() == {"error": "DOCUMENT_LINK_INVALID"}
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE auth_sessions SET revoked_at = now() WHERE id = :i"), {"i": claims.session_id})
    revoked = await http.get(f"/documents/aml/{token}")
    assert (revoked.status_code, revoked.json()) == (404, {"error": "NOT_FOUND"})
    viewed = [e for e in await audit_of(session_factory, "aml_case", case_id)
              if e["action"] == "aml.case_attachment_viewed"]
    assert viewed == []


def test_case_file_link_tokens_never_reach_a_log_line() -> None:
    from infra.logging import redact

    token = "eyJhbGciOi.SIGNATURE_abc123"
    line = f'127.0.0.1 - "GET /documents/aml/{token} HTTP/1.1" 200'
    assert token not in redact(line) and "/documents/aml/[redacted]" in redact(line)
