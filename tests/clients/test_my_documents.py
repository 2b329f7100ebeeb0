"""myDocuments: a client's own uploads with their review status, paged; nobody else's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.clients.flow import registered, to_documents
from tests.identity.staff import make_staff

MINE = """query($a: String) { myDocuments(first: 1, after: $a) { pageInfo { hasNextPage endCursor }
  nodes { id kind status rejectReason filename } } }"""


async def _all(client: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await client(MINE, {"a": after})
        assert "errors" not in body, body
        conn = body["data"]["myDocuments"]
        seen += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            return seen
        after = conn["pageInfo"]["endCursor"]


async def test_my_documents_with_their_review_status(http: httpx.AsyncClient, session_factory: Any, settings: Any,
                                                     upload_url: str, brokerage: int) -> None:
    client, _, _ = await to_documents(http, session_factory, upload_url)
    docs = await _all(client)
    assert [(d["kind"], d["filename"], d["status"]) for d in docs] == [
        ("proof_of_identity", "id.png", "pending"), ("proof_of_address", "bill.pdf", "pending")]

    reviewer = await make_staff(http, session_factory, settings, ["compliance"])
    rejected = await reviewer.client("""mutation($d: ID!) { reviewDocument(documentId: $d, accept: false,
        reason: "blurred") { errors { code } } }""", {"d": docs[1]["id"]})
    assert rejected["data"]["reviewDocument"]["errors"] == [], rejected
    after = await _all(client)
    assert [(d["status"], d["rejectReason"]) for d in after] == [("pending", None), ("rejected", "blurred")]

    # Another client sees none of them; a garbage cursor is a typed refusal.
    other, _, _ = await registered(http)
    assert await _all(other) == []
    bad = await client(MINE, {"a": "garbage"})
    assert bad["data"] is None and bad["errors"][0]["extensions"]["code"] == "INVALID_PAGE_ARGUMENTS"
