"""Trusted documents: registered by manifest (CLI, staff mutation), sent by hash (POST, GET, Apollo's
persisted-query extension), required per kind of caller, revoked; bad input changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy.exc
from sqlalchemy import text

from domain.shared.actor import ActorKind, system_actor
from domain.trusted_documents import service
from domain.trusted_documents.service import document_hash
from tests.conftest import GraphQLClient, serve, unique
from tests.identity.helpers import count
from tests.identity.staff import make_staff
from tests.wsclient import graphql_ws

RESPONSE_ACCEPT = {"accept": "application/graphql-response+json"}
REGISTER = """mutation($i: RegisterTrustedDocumentsInput!) { registerTrustedDocuments(input: $i) {
  added { hash clientName registeredBy } reinstated { hash } unchanged errors { field code } } }"""
REVOKE = """mutation($h: String!) { revokeTrustedDocument(hash: $h) { document { hash revokedAt } errors { code } } }"""


def _document(name: str) -> str:
    """A distinct document per test (its hash is its identity)."""
    return f"query {name} {{ apiVersion }}"


def _manifest(*bodies: str) -> dict[str, str]:
    return {document_hash(body): body for body in bodies}


async def _rows(session_factory: Any, client: str) -> int:
    return await count(session_factory, "trusted_documents", "client_name = :c", c=client)


async def _audits(session_factory: Any) -> int:
    return await count(session_factory, "audit_events", "action LIKE 'trusted_documents.%'")


async def _register(session_factory: Any, client: str, manifest: dict[str, str]) -> service.Registration:
    async with session_factory() as session, session.begin():
        return await service.register(session, system_actor("test"), client_name=client, documents=manifest)


# -- registration ----------------------------------------------------------------------------------


async def test_a_manifest_registers_each_document_once(session_factory: Any) -> None:
    client = unique("portal")
    a, b = _document(unique("A").replace("-", "_")), _document(unique("B").replace("-", "_"))
    done = await _register(session_factory, client, _manifest(a, b))
    assert sorted(r.hash for r in done.added) == sorted(_manifest(a, b)) and done.unchanged == 0
    again = await _register(session_factory, client, {"sha256:" + document_hash(a): a})
    assert again.added == [] and again.unchanged == 1
    assert await _rows(session_factory, client) == 2


@pytest.mark.parametrize("manifest, code, field", [
    ({"0" * 64: "query Q { apiVersion }"}, "DOCUMENT_HASH_MISMATCH", "documents.1.hash"),
    ({"not-a-hash": "query Q { apiVersion }"}, "DOCUMENT_INVALID", "documents.1.hash"),
    ({document_hash("query Q { apiVersion "): "query Q { apiVersion "}, "DOCUMENT_INVALID", "documents.1.body"),
])
async def test_a_faulty_manifest_entry_registers_nothing(session_factory: Any, manifest: dict[str, str],
                                                         code: str, field: str) -> None:
    from domain.shared.errors import DomainError

    client = unique("portal")
    good = _document(unique("Good").replace("-", "_"))
    audits = await _audits(session_factory)
    with pytest.raises(DomainError) as refused:
        await _register(session_factory, client, {**_manifest(good), **manifest})
    assert (refused.value.code, refused.value.field) == (code, field)
    assert await _rows(session_factory, client) == 0 and await _audits(session_factory) == audits


async def test_the_database_refuses_a_hash_that_is_not_its_body(session_factory: Any) -> None:
    with pytest.raises(sqlalchemy.exc.IntegrityError, match="ck_trusted_documents_hash"):
        async with session_factory() as session, session.begin():
            await session.execute(text(
                "INSERT INTO trusted_documents (hash, body, client_name, registered_by) "
                "VALUES (:h, 'query Other { apiVersion }', 'x', 'test')"), {"h": document_hash("query X { a }")})


# -- through GraphQL --------------------------------------------------------------------------------


async def test_staff_register_and_revoke_documents_which_run_by_hash_until_revoked(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    staff = await make_staff(http, session_factory, settings, ["administrator"])
    client = unique("client-portal")
    name = unique("Version").replace("-", "_")
    body = _document(name)
    digest = document_hash(body)
    registered = await staff.client(REGISTER, {"i": {"clientName": client,
                                                      "documents": [{"hash": digest, "body": body}]}})
    payload = registered["data"]["registerTrustedDocuments"]
    assert payload["errors"] == [] and payload["added"][0]["hash"] == digest
    assert payload["added"][0]["clientName"] == client and payload["added"][0]["registeredBy"].startswith("staff:")
    listed = await staff.client("query($c: String) { trustedDocuments(clientName: $c) { edges { node { hash } } } }",
                                {"c": client})
    assert [e["node"]["hash"] for e in listed["data"]["trustedDocuments"]["edges"]] == [digest]

    # by documentId over POST, by Apollo's extension, by GET (anonymous: publicly cacheable)
    by_id = await http.post("/graphql", json={"documentId": f"sha256:{digest}"}, headers=RESPONSE_ACCEPT)
    assert by_id.status_code == 200 and by_id.json()["data"]["apiVersion"]
    apq = await http.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}})
    assert apq.json()["data"]["apiVersion"]
    got = await http.get("/graphql", params={"documentId": f"sha256:{digest}", "operationName": name})
    assert got.status_code == 200 and got.json()["data"]["apiVersion"]
    assert got.headers["cache-control"].startswith("public, max-age=")
    # the text sent along must be the document's
    other = await http.post("/graphql", json={"documentId": digest, "query": "{ serverTime }"}, headers=RESPONSE_ACCEPT)
    assert other.status_code == 400 and other.json()["errors"][0]["extensions"]["code"] == "BAD_OPERATION"

    revoked = await staff.client(REVOKE, {"h": digest})
    assert revoked["data"]["revokeTrustedDocument"]["document"]["revokedAt"]
    gone = await http.post("/graphql", json={"documentId": digest}, headers=RESPONSE_ACCEPT)
    assert gone.status_code == 400
    assert gone.json() == {"errors": [{"message": "PersistedQueryNotFound",
                                       "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}
    assert (await staff.client(REVOKE, {"h": "0" * 64}))["data"]["revokeTrustedDocument"]["errors"] == [
        {"code": "DOCUMENT_NOT_FOUND"}]


async def test_an_unknown_hash_is_persisted_query_not_found(http: httpx.AsyncClient) -> None:
    unknown = document_hash(unique("never registered"))
    r = await http.post("/graphql", json={"documentId": unknown}, headers=RESPONSE_ACCEPT)
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    legacy = await http.get("/graphql", params={"extensions": json.dumps(
        {"persistedQuery": {"version": 1, "sha256Hash": unknown}})})
    assert legacy.status_code == 200 and legacy.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert legacy.headers["cache-control"] == "private, no-store"
    # Apollo's automatic persisted queries: the text with its hash runs where documents are not required
    query = "{ apiVersion }"
    apq = await http.post("/graphql", json={"query": query, "extensions": {
        "persistedQuery": {"version": 1, "sha256Hash": document_hash(query)}}})
    assert apq.json()["data"]["apiVersion"]


async def test_documents_need_their_permission(http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    staff = await make_staff(http, session_factory, settings, ["support"])
    client = unique("portal")
    body = _document(unique("Q").replace("-", "_"))
    refused = await staff.client(REGISTER, {"i": {"clientName": client,
                                                   "documents": [{"hash": document_hash(body), "body": body}]}})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listed = await staff.client("{ trustedDocuments { edges { node { hash } } } }")
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _rows(session_factory, client) == 0


async def test_a_faulty_registration_through_graphql_changes_nothing(
        http: httpx.AsyncClient, session_factory: Any, settings: Any) -> None:
    staff = await make_staff(http, session_factory, settings, ["administrator"])
    client = unique("portal")
    good = _document(unique("Good").replace("-", "_"))
    audits = await _audits(session_factory)
    body = await staff.client(REGISTER, {"i": {"clientName": client, "documents": [
        {"hash": document_hash(good), "body": good}, {"hash": "f" * 64, "body": "query Bad { apiVersion }"}]}})
    assert body["data"]["registerTrustedDocuments"]["errors"] == [
        {"field": "documents.1.hash", "code": "DOCUMENT_HASH_MISMATCH"}]
    bad_name = await staff.client(REGISTER, {"i": {"clientName": " ", "documents": [
        {"hash": document_hash(good), "body": good}]}})
    assert bad_name["data"]["registerTrustedDocuments"]["errors"] == [{"field": "clientName",
                                                                        "code": "VALIDATION_FAILED"}]
    assert await _rows(session_factory, client) == 0 and await _audits(session_factory) == audits


# -- required per kind of caller ---------------------------------------------------------------------


async def test_callers_of_a_required_kind_run_only_trusted_documents(session_factory: Any, settings: Any) -> None:
    body = _document(unique("Trusted").replace("-", "_"))
    sign_up = "mutation SignUp($i: RegisterInput!) { register(input: $i) { accessToken errors { code } } }"
    await _register(session_factory, unique("portal"), _manifest(body, sign_up))
    strict = settings.model_copy(update={"trusted_documents_required": [ActorKind.ANONYMOUS]})
    async with serve(strict) as live, httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        text_query = await http.post("/graphql", json={"query": "{ apiVersion }"}, headers=RESPONSE_ACCEPT)
        assert text_query.status_code == 400
        assert text_query.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
        # the APQ shortcut (text with its hash) does not register or run anything for them
        apq = await http.post("/graphql", json={"query": "{ apiVersion }", "extensions": {
            "persistedQuery": {"version": 1, "sha256Hash": document_hash("{ apiVersion }")}}})
        assert apq.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        by_hash = await http.get("/graphql", params={"documentId": f"sha256:{document_hash(body)}"})
        assert by_hash.status_code == 200 and by_hash.json()["data"]["apiVersion"]
        # the paths that take text (uploads, the socket) run it only when it is a trusted document's
        upload = await http.post("/graphql", headers={"x-requested-with": "test"}, files={"x": ("x.txt", b"x")},
                                 data={"operations": json.dumps({"query": "{ apiVersion }"}), "map": "{}"})
        assert upload.status_code == 400
        assert upload.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENT_REQUIRED"
        async with graphql_ws(live.ws_url, origin=live.base_url) as ws:
            await ws.subscribe("{ apiVersion }", op_id="text")
            refused = await ws.receive()
            assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == (
                "TRUSTED_DOCUMENT_REQUIRED")
            await ws.subscribe(body, op_id="trusted")
            answered = await ws.receive()
            assert answered["type"] == "next" and answered["payload"]["data"]["apiVersion"]
        # signing up through the portal's trusted mutation; then a kind not listed (client) still sends text
        signed_up = await http.post("/graphql", json={"documentId": document_hash(sign_up), "variables": {"i": {
            "email": f"{unique('c')}@example.com", "password": "correct horse battery staple 42"}}})
        token = signed_up.json()["data"]["register"]["accessToken"]
        me = await GraphQLClient(http, token)("{ me { email } }")
        assert me["data"]["me"]["email"]


# -- CLI ---------------------------------------------------------------------------------------------


def _cli(services: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    return subprocess.run([sys.executable, "-m", "api", "documents", *args], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_the_cli_adds_a_manifest_lists_and_revokes(tmp_path: Path, services: Any, session_factory: Any) -> None:
    client = unique("ib-portal")
    a, b = _document(unique("CliA").replace("-", "_")), _document(unique("CliB").replace("-", "_"))
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps(_manifest(a, b)))
    added = _cli(services, "add", str(manifest), "--client", client)
    assert added.returncode == 0, added.stderr[-1500:]
    assert "2 added" in added.stderr
    listed = _cli(services, "list", "--client", client)
    assert listed.returncode == 0 and sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == sorted(
        _manifest(a, b))
    revoked = _cli(services, "revoke", f"sha256:{document_hash(a)}")
    assert revoked.returncode == 0, revoked.stderr[-1500:]
    assert [line.split("\t")[0] for line in _cli(services, "list", "--client", client).stdout.splitlines()] == [
        document_hash(b)]
    # a faulty manifest: exit 2 naming the fault, nothing registered
    faulty = tmp_path / "faulty.json"
    faulty.write_text(json.dumps({"0" * 64: "query Z { apiVersion }"}))
    refused = _cli(services, "add", str(faulty), "--client", client + "-x")
    assert refused.returncode == 2 and "DOCUMENT_HASH_MISMATCH" in refused.stderr
    assert await _rows(session_factory, client + "-x") == 0
