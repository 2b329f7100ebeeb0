"""Erasure requests (GDPR Art. 17): the client asks, staff decide.

Approving takes four eyes (identity/four_eyes.py: two staff members, neither related to the other):
erasing is irreversible. On the second approval whatever no retention duty keeps is erased at once
(enforcement.enforce_client with `on_request`: what is past its period, and the marketing data no duty
ever keeps) and the rest is scheduled for when its duty ends, which the enforcement job honours
then. The decision, per kind of record, is stored on the request (`outcome`), audited, and shown to
the client. A rejection needs one staff member and a reason (a legal hold, an open dispute, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.storage import BlobStore
from domain.identity.four_eyes import SelfApproval, require_independent
from domain.retention.enforcement import enforce_client
from domain.retention.errors import (
    ClientKeyDestroyed,
    ErasureAlreadyDecided,
    ErasureAlreadyRequested,
    ErasureRequestNotFound,
)
from domain.shared.actor import Actor
from domain.shared.db import Reader, driver
from domain.shared.errors import ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page

MAX_REASON = 2000
STATUSES = ("pending", "approved", "rejected")


@dataclass(frozen=True)
class ErasureRequest:
    id: int
    client_id: int
    reason: str
    status: str
    requested_at: datetime
    first_approver_id: int | None
    decided_by: int | None
    decided_at: datetime | None
    decision_reason: str | None
    outcome: list[dict[str, Any]] | None


_COLUMNS = ("id, client_id, reason, status, requested_at, first_approver_id, decided_by, decided_at, "
            "decision_reason, outcome")


def _request(r: Any) -> ErasureRequest:
    m = dict(r)
    outcome = m.pop("outcome")
    if isinstance(outcome, str | bytes):
        outcome = orjson.loads(outcome)
    return ErasureRequest(**m, outcome=outcome)


def _text(value: str, field: str, *, required: bool) -> str:
    value = value.strip()
    if len(value) > MAX_REASON or (required and not value):
        raise ValidationFailed(f"a reason of {1 if required else 0} to {MAX_REASON} characters "
                               f"{'is required' if required else 'at most'}", field=field)
    return value


async def request(session: AsyncSession, actor: Actor, client_id: int, reason: str) -> ErasureRequest:
    """The client's own request (the caller has locked their client row)."""
    reason = _text(reason, "reason", required=False)
    conn = await driver(session)
    if await conn.fetchval("SELECT erased_at IS NOT NULL FROM clients WHERE id = $1", client_id):
        raise ClientKeyDestroyed("your personal data has already been erased", field="clientId")
    if await conn.fetchval("SELECT 1 FROM erasure_requests WHERE client_id = $1 AND status = 'pending'", client_id):
        raise ErasureAlreadyRequested("you already have an erasure request awaiting a decision", field="clientId")
    row = await conn.fetchrow(f"INSERT INTO erasure_requests (client_id, reason) VALUES ($1, $2) "  # noqa: S608
                              f"RETURNING {_COLUMNS}", client_id, reason)
    req = _request(row)
    await record(session, actor, action="erasure_request.created", entity_type="erasure_request", entity_id=req.id,
                 after={"client_id": client_id}, reason=reason or None, category="general")
    return req


async def get(session: Reader, request_id: int, *, lock: bool = False) -> ErasureRequest | None:
    row = await (await driver(session)).fetchrow(
        f"SELECT {_COLUMNS} FROM erasure_requests WHERE id = $1{' FOR UPDATE' if lock else ''}", request_id)  # noqa: S608
    return None if row is None else _request(row)


async def requests_by_ids(session: Reader, ids: list[int]) -> dict[int, ErasureRequest]:
    rows = await (await driver(session)).fetch(
        f"SELECT {_COLUMNS} FROM erasure_requests WHERE id = ANY($1::bigint[])", ids)  # noqa: S608
    return {int(r["id"]): _request(r) for r in rows}


async def latest_of(session: Reader, client_id: int) -> ErasureRequest | None:
    row = await (await driver(session)).fetchrow(
        f"SELECT {_COLUMNS} FROM erasure_requests WHERE client_id = $1 ORDER BY id DESC LIMIT 1", client_id)  # noqa: S608
    return None if row is None else _request(row)


async def list_requests(session: AsyncSession, page: PageRequest, *, status: str | None,
                        client_id: int | None = None) -> Page[ErasureRequest]:
    """Oldest first (a queue)."""
    where: list[str] = []
    params: dict[str, object] = {}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if client_id is not None:
        where.append("client_id = :client")
        params["client"] = client_id
    return await sql_page(session, page, columns=_COLUMNS, source="erasure_requests", where=where, params=params,
                          key=("id",), descending=False, convert=lambda r: _request(r._mapping))


async def decide(session: AsyncSession, actor: Actor, store: BlobStore, request_id: int, *, approve: bool,
                 reason: str, today: date) -> ErasureRequest:
    reason = _text(reason, "reason", required=True)
    req = await get(session, request_id, lock=True)
    if req is None:
        raise ErasureRequestNotFound("erasure request not found", field="requestId")
    if req.status != "pending":
        raise ErasureAlreadyDecided(f"this request is already {req.status}", field="requestId")
    conn = await driver(session)
    if not approve:
        row = await conn.fetchrow(
            f"UPDATE erasure_requests SET status = 'rejected', decided_by = $2, decided_at = now(), "  # noqa: S608
            f"decision_reason = $3 WHERE id = $1 RETURNING {_COLUMNS}", request_id, actor.user_id, reason)
        await record(session, actor, action="erasure_request.rejected", entity_type="erasure_request",
                     entity_id=request_id, before={"status": "pending"}, after={"status": "rejected"}, reason=reason,
                     category="general")
        return _request(row)
    if req.first_approver_id is None:
        row = await conn.fetchrow(
            f"UPDATE erasure_requests SET first_approver_id = $2 WHERE id = $1 RETURNING {_COLUMNS}",  # noqa: S608
            request_id, actor.user_id)
        await record(session, actor, action="erasure_request.first_approval", entity_type="erasure_request",
                     entity_id=request_id, after={"first_approver_id": actor.user_id}, reason=reason,
                     category="general")
        return _request(row)
    if actor.user_id == req.first_approver_id:
        raise SelfApproval("a second staff member must approve an erasure you approved", field="requestId")
    await require_independent(session, actor.user_id or 0, [req.first_approver_id], field="requestId")
    outcome = await enforce_client(session, actor, store, req.client_id, today, on_request=True)
    kinds = [k.as_json() for k in outcome.kinds]
    row = await conn.fetchrow(
        f"UPDATE erasure_requests SET status = 'approved', decided_by = $2, decided_at = now(), "  # noqa: S608
        f"decision_reason = $3, outcome = $4::jsonb WHERE id = $1 RETURNING {_COLUMNS}",
        request_id, actor.user_id, reason, orjson.dumps(kinds).decode())
    await record(session, actor, action="erasure_request.approved", entity_type="erasure_request",
                 entity_id=request_id, before={"status": "pending"},
                 after={"status": "approved", "outcome": kinds}, reason=reason, category="general")
    return _request(row)
