"""Leverage changes on a client's live trading account.

Rules decide first: above the cap for the client's jurisdiction and risk category (asset class
of the account, config.ACCOUNT_ASSET_CLASS) is refused and leaves no trace; at or below it the
change is approved automatically, except an increase for an AML high-risk client, and any change
where no cap is configured, which wait for staff with trading.manage. An approved change is set on
the platform through the port (an absolute value, so repeating it is harmless) and then recorded;
one open request per account keeps an older approval from landing over a newer one. Every step is
audited in the "leverage_change" category.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients.access import own_client
from domain.clients.config import leverage_cap
from domain.clients.errors import InvalidTransition, LeverageAboveCap, LeverageRequestNotFound, LeverageRequestPending
from domain.clients.models import Client, LeverageRequest
from domain.clients.status import Status, require_status
from domain.platforms.port import TradingPlatform
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction, utcnow
from domain.shared.errors import NotFound, ValidationFailed
from domain.shared.pagination import Page, PageRequest, select_page
from domain.shared.settings import Settings
from domain.trading.models import TradingAccount, TradingServer
from domain.trading.servers import platform_for

CATEGORY = "leverage_change"
OPEN = ("pending", "approved")
CHANGE_STATES = frozenset({Status.APPROVED, Status.ACTIVE, Status.DORMANT})
MAX_LEVERAGE = 5000
PlatformFactory = Callable[[TradingServer], TradingPlatform]


async def cap_for(session: AsyncSession, client: Client) -> int | None:
    if client.country is None:
        return None
    return await leverage_cap(session, jurisdiction=client.country, risk_category=client.risk_category or "high")


async def request_change(session: AsyncSession, actor: Actor, account_id: int, leverage: int) -> LeverageRequest:
    """The signed-in client's request; validated before anything is written."""
    client = await own_client(session, actor, lock=True)
    account = await session.scalar(select(TradingAccount).where(
        TradingAccount.id == account_id, TradingAccount.user_id == client.user_id).with_for_update())
    if account is None:
        raise NotFound("trading account not found", field="accountId")
    require_status(client, CHANGE_STATES, "change leverage")
    if not 1 <= leverage <= MAX_LEVERAGE:
        raise ValidationFailed(f"leverage is between 1 and {MAX_LEVERAGE}", field="leverage")
    if leverage == account.leverage:
        raise ValidationFailed(f"the account already has leverage 1:{leverage}", field="leverage")
    cap = await cap_for(session, client)
    if cap is not None and leverage > cap:
        raise LeverageAboveCap(f"leverage above the cap of {cap}:1", field="leverage")
    if await session.scalar(select(LeverageRequest.id).where(
            LeverageRequest.trading_account_id == account.id, LeverageRequest.status.in_(OPEN))) is not None:
        raise LeverageRequestPending("a leverage change for this account is still open", field="accountId")
    increase = leverage > account.leverage
    auto = cap is not None and not (increase and client.risk_level == "high")
    row = LeverageRequest(client_id=client.id, trading_account_id=account.id, from_leverage=account.leverage,
                          to_leverage=leverage, cap=cap, status="approved" if auto else "pending", auto_approved=auto)
    session.add(row)
    await session.flush()
    await record(session, actor, action="leverage_change.requested", entity_type="trading_account",
                 entity_id=account.id, before={"leverage": account.leverage},
                 after={"leverage": leverage, "status": row.status, "cap": cap, "request_id": row.id},
                 reason="auto-approved: at or below the cap" if auto else "waiting for staff", category=CATEGORY)
    return row


async def request_for(session: AsyncSession, request_id: int) -> LeverageRequest:
    row = await session.get(LeverageRequest, request_id, with_for_update=True)
    if row is None:
        raise LeverageRequestNotFound("leverage request not found", field="id")
    return row


async def decide(session: AsyncSession, actor: Actor, row: LeverageRequest, *, approve: bool,
                 reason: str) -> LeverageRequest:
    if row.status != "pending":
        raise InvalidTransition(f"this leverage request is already {row.status}", field="id")
    if not approve and not reason.strip():
        raise ValidationFailed("say why", field="reason")
    if approve:
        client = await session.get(Client, row.client_id)
        assert client is not None
        cap = await cap_for(session, client)  # the configuration may have changed since the request
        if cap is not None and row.to_leverage > cap:
            raise LeverageAboveCap(f"leverage above the cap of {cap}:1", field="id")
    row.status = "approved" if approve else "rejected"
    row.decided_by, row.reason, row.updated_at = actor.user_id, reason.strip()[:2000], utcnow()
    await record(session, actor, action=f"leverage_change.{row.status}", entity_type="trading_account",
                 entity_id=row.trading_account_id, before={"status": "pending"},
                 after={"status": row.status, "leverage": row.to_leverage, "request_id": row.id},
                 reason=reason.strip() or None, category=CATEGORY)
    return row


async def apply(factory: SessionFactory, settings: Settings, actor: Actor, request_id: int, *,
                platforms: PlatformFactory | None = None) -> LeverageRequest:
    """Set an approved change on the platform, then record it; safe to run twice or concurrently.

    A platform failure leaves the request approved with the error noted; the retry job applies it."""
    make = platforms or (lambda server: platform_for(server, settings.secret_key.get_secret_value()))

    async def load(session: AsyncSession) -> tuple[LeverageRequest, TradingAccount | None, TradingServer | None]:
        row = await session.get(LeverageRequest, request_id)
        assert row is not None
        account = await session.get(TradingAccount, row.trading_account_id)
        server = await session.get(TradingServer, account.server_id) if account else None
        return row, account, server

    row, account, server = await in_transaction(factory, load)
    if row.status != "approved" or account is None or server is None:
        return row
    platform = make(server)
    try:
        info = await platform.update_account(account.login, leverage=row.to_leverage)
    except Exception as exc:
        failure = repr(exc)[:2000]
        await in_transaction(factory, lambda s: _note_failure(s, request_id, failure))
        return row
    finally:
        await platform.aclose()
    return await in_transaction(factory, lambda s: _applied(s, actor, request_id, info.leverage))


async def _note_failure(session: AsyncSession, request_id: int, failure: str) -> None:
    row = await request_for(session, request_id)
    row.error, row.updated_at = failure, utcnow()


async def _applied(session: AsyncSession, actor: Actor, request_id: int, leverage: int) -> LeverageRequest:
    row = await request_for(session, request_id)
    if row.status != "approved":
        return row  # a concurrent run recorded it first
    account = await session.get(TradingAccount, row.trading_account_id, with_for_update=True)
    assert account is not None
    before = account.leverage
    account.leverage = leverage
    row.status, row.applied_at, row.updated_at, row.error = "applied", utcnow(), utcnow(), None
    await record(session, actor, action="leverage_change.applied", entity_type="trading_account",
                 entity_id=account.id, before={"leverage": before},
                 after={"leverage": leverage, "login": account.login, "request_id": row.id}, category=CATEGORY)
    return row


async def unapplied(session: AsyncSession, limit: int = 200) -> list[int]:
    """Approved changes not yet on the platform (the retry job's work)."""
    return list(await session.scalars(select(LeverageRequest.id).where(LeverageRequest.status == "approved")
                                      .order_by(LeverageRequest.created_at, LeverageRequest.id).limit(limit)))


async def mine(session: AsyncSession, actor: Actor, page: PageRequest) -> Page[LeverageRequest]:
    client = await own_client(session, actor)
    stmt = select(LeverageRequest).where(LeverageRequest.client_id == client.id)
    return await select_page(session, page, stmt, _KEY, descending=True, convert=_same)


async def requests_by_ids(session: AsyncSession, ids: list[int], *,
                          user_id: int | None = None) -> dict[int, LeverageRequest]:
    """Requests among `ids`; with `user_id`, only those on that user's own client record."""
    stmt = select(LeverageRequest).where(LeverageRequest.id.in_(ids))
    if user_id is not None:
        stmt = stmt.where(LeverageRequest.client_id.in_(select(Client.id).where(Client.user_id == user_id)))
    return {r.id: r for r in await session.scalars(stmt)}


async def pending(session: AsyncSession, page: PageRequest) -> Page[LeverageRequest]:
    stmt = select(LeverageRequest).where(LeverageRequest.status == "pending")
    return await select_page(session, page, stmt, _KEY, descending=True, convert=_same)


_KEY = (LeverageRequest.created_at, LeverageRequest.id)


def _same(row: LeverageRequest) -> LeverageRequest:
    return row
