"""Givens for the retention tests: clients with a document sealed under their own key, closed a
given number of years ago, money in their wallet."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from domain.clients import documents
from domain.clients.models import Client, Document
from domain.clients.storage import BlobStore
from domain.ledger import wallets
from domain.retention.identity import seal_identity
from domain.shared.actor import system_actor
from domain.shared.settings import Settings
from tests.clients.staff_world import make_client

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + uuid.uuid4().bytes


async def client_with_document(session_factory: Any, settings: Settings, store: BlobStore, *, first: str,
                               country: str = "DE", data: bytes = PDF) -> tuple[int, int, int]:
    """(client id, user id, document id): a client with a date of birth, a phone and one document."""
    cid, uid, _ = await make_client(session_factory, settings, first=first, last="Erasable", phone="+49 30 901820",
                                    status="profile_complete")
    async with session_factory() as s, s.begin():
        client = await s.get(Client, cid)
        assert client is not None
        client.date_of_birth, client.country = date(1980, 1, 1), country
        client.attribution = {"utm_source": "newsletter"}
        await seal_identity(s, settings, client)
        doc = await documents.upload(s, settings, store, system_actor("test"), client, kind="proof_of_address",
                                     filename="bill.pdf", data=data, expires_on=None, today=date.today())
        return cid, uid, int(doc.id)


async def close_years_ago(session_factory: Any, client_id: int, years: int) -> None:
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET status = 'closed' WHERE id = :c"), {"c": client_id})
        await s.execute(text(
            "INSERT INTO client_status_history (client_id, from_status, to_status, actor_kind, reason, created_at) "
            "VALUES (:c, 'profile_complete', 'closed', 'system', 'test', now() - make_interval(years => :y))"),
            {"c": client_id, "y": years})


async def deposit(session_factory: Any, user_id: int, amount: str) -> int:
    async with session_factory() as s, s.begin():
        moved = await wallets.deposit_to_wallet(s, system_actor("test"), user_id=user_id, currency="USD",
                                                amount=Decimal(amount), idempotency_key=uuid.uuid4().hex)
        return moved.entry_id


async def reverse(session_factory: Any, entry_id: int) -> None:
    async with session_factory() as s, s.begin():
        await wallets.reverse(s, system_actor("test"), entry_id=entry_id, reason="refunded at closure",
                              idempotency_key=uuid.uuid4().hex)


async def document(session_factory: Any, doc_id: int) -> Document:
    async with session_factory() as s:
        doc: Document | None = await s.get(Document, doc_id)
        assert doc is not None
        return doc
