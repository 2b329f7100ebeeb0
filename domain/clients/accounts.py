"""Live trading accounts for approved clients, through the platform port, in the group and at the
leverage the brokerage configuration gives.

Idempotent: a request row per (client, idempotency key) reserves a login from our own sequence
before the platform is called, so a repeat, or a lost answer, is settled by looking the login up
on the server instead of creating a second account. Compensated: if the account exists on the
platform but recording it fails (the client was blocked meanwhile, the database failed), the
platform account is made read-only and the request marked compensated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.clients import account_types
from domain.clients.access import client_for
from domain.clients.config import placement
from domain.clients.emails import email_client
from domain.clients.models import AccountRequest, Client
from domain.clients.status import Status, require_status, transition
from domain.identity.models import User
from domain.ledger.accounts import link_trading_account
from domain.platforms.errors import AccountAlreadyExists, AccountNotFound, OutcomeUnknown
from domain.platforms.port import AccountInfo, AccountRights, NewAccount, TradingPlatform
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, in_transaction, utcnow
from domain.shared.settings import Settings
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.models import TradingAccount, TradingServer
from domain.trading.servers import platform_for
from domain.webhooks import catalogue as webhooks

PlatformFactory = Callable[[TradingServer], TradingPlatform]
OPEN_STATES = frozenset({Status.APPROVED, Status.ACTIVE})


def _tag(request: AccountRequest) -> str:
    return f"crm:{request.client_id}:{request.id}"


async def reserve(session: AsyncSession, actor: Actor, client: Client, *, idempotency_key: str,
                  leverage: int | None = None, account_type: str | None = None,
                  currency: str | None = None) -> AccountRequest:
    """The request for this key (existing, or new with a reserved login and its placement)."""
    existing = await session.scalar(select(AccountRequest).where(
        AccountRequest.client_id == client.id, AccountRequest.idempotency_key == idempotency_key).with_for_update())
    if existing is not None:
        return existing
    require_status(client, OPEN_STATES, "open a live account")
    assert client.country is not None
    if account_type is not None:  # the client's choice, checked against the type
        kind, chosen = await account_types.offered(session, account_type, currency or "")
        where = await account_types.place(session, kind, jurisdiction=client.country, currency=chosen,
                                          risk_category=client.risk_category or "high", requested_leverage=leverage)
    else:  # the initial account after approval: the client's profile defaults
        where = await placement(session, jurisdiction=client.country, account_type=client.account_type,
                                currency=client.currency, risk_category=client.risk_category or "high",
                                requested_leverage=leverage)
    login = int(await session.scalar(text("SELECT nextval('client_login_seq')")) or 0)
    request = AccountRequest(client_id=client.id, idempotency_key=idempotency_key[:80], server_id=where.server_id,
                             login=login, group_name=where.group, leverage=where.leverage, currency=where.currency,
                             status="pending", account_type_code=account_type or client.account_type)
    session.add(request)
    await session.flush()
    await record(session, actor, action="trading_account.requested", entity_type="client", entity_id=client.id,
                 after={"login": login, "group": where.group, "leverage": where.leverage,
                        "server_id": where.server_id, "account_type": account_type or client.account_type,
                        "currency": where.currency}, category="general")
    return request


async def _create_on_platform(platform: TradingPlatform, request: AccountRequest, client: Client,
                              email: str) -> AccountInfo:
    new = NewAccount(group=request.group_name, leverage=request.leverage, name=client.full_name or email,
                     email=email, country=client.country or "", login=request.login, comment=_tag(request),
                     phone=str(client.profile.get("phone", "")), password_main=_password(),
                     password_investor=_password())
    try:
        return await platform.create_account(new)
    except (OutcomeUnknown, AccountAlreadyExists):
        # Either an earlier attempt got through or the answer was lost: the login is ours, look it up.
        try:
            return await platform.get_account(request.login)
        except AccountNotFound:
            return await platform.create_account(new)


def _password() -> str:
    # The simulator and MT5 need upper, lower, digit and symbol; the client resets it from the portal.
    return secrets.token_urlsafe(10) + "aA1!"


async def open_live_account(factory: SessionFactory, settings: Settings, actor: Actor, client_id: int, *,
                            idempotency_key: str = "initial", leverage: int | None = None,
                            platforms: PlatformFactory | None = None, account_type: str | None = None,
                            currency: str | None = None) -> AccountRequest:
    """Reserve, create on the platform (no transaction open meanwhile), then record."""
    make_platform = platforms or (lambda server: platform_for(server, settings.secret_key.get_secret_value()))

    async def reserve_txn(session: AsyncSession) -> tuple[AccountRequest, Client, str, TradingServer]:
        client = await client_for(session, actor, client_id, lock=True)
        request = await reserve(session, actor, client, idempotency_key=idempotency_key, leverage=leverage,
                                account_type=account_type, currency=currency)
        user = await session.get(User, client.user_id)
        server = await session.get(TradingServer, request.server_id)
        assert user is not None and server is not None
        return request, client, user.email, server

    request, client, email, server = await in_transaction(factory, reserve_txn)
    if request.status in ("created", "compensated"):
        return request
    platform = make_platform(server)
    try:
        try:
            info = await _create_on_platform(platform, request, client, email)
        except OutcomeUnknown:
            raise  # still pending: a retry with the same key looks the login up
        except Exception as exc:
            failure = repr(exc)
            await in_transaction(factory, lambda s: _settle(s, actor, request.id, "failed", failure))
            raise
        try:
            return await in_transaction(factory, lambda s: _complete(s, actor, request.id, info))
        except Exception as exc:
            failure = repr(exc)
            await platform.update_account(info.login, rights=AccountRights.READ_ONLY)
            await in_transaction(factory, lambda s: _settle(s, actor, request.id, "compensated", failure))
            raise
    finally:
        await platform.aclose()


async def _complete(session: AsyncSession, actor: Actor, request_id: int, info: AccountInfo) -> AccountRequest:
    request = await session.get(AccountRequest, request_id, with_for_update=True)
    assert request is not None
    client = await session.get(Client, request.client_id, with_for_update=True)
    assert client is not None
    require_status(client, OPEN_STATES, "open a live account")
    await register_accounts(session, request.server_id, [AccountSpec(
        info.login, info.group, info.leverage, request.currency, info.rights.value, user_id=client.user_id)])
    account_id = await session.scalar(select(TradingAccount.id).where(
        TradingAccount.server_id == request.server_id, TradingAccount.login == info.login))
    # The ledger mirror, so the client can move money to and from this account.
    await link_trading_account(session, user_id=client.user_id, server_id=str(request.server_id), login=info.login,
                               currency=request.currency)
    request.status, request.trading_account_id, request.updated_at = "created", account_id, utcnow()
    await session.execute(update(TradingAccount).where(TradingAccount.id == account_id)
                          .values(account_type_code=request.account_type_code))
    if client.status == Status.APPROVED.value:
        await transition(session, actor, client, Status.ACTIVE, reason=f"live account {info.login} opened")
    user = await session.get(User, client.user_id)
    assert user is not None
    await email_client(session, client, to=user.email, subject="Your live account is ready",
                       body=f"Your live trading account {info.login} is ready (leverage 1:{info.leverage}).")
    await webhooks.publish(session, "account.opened", {
        "trading_account_id": account_id, "login": info.login, "server_id": request.server_id,
        "client_id": client.id, "user_id": client.user_id, "currency": request.currency})
    await record(session, actor, action="trading_account.opened", entity_type="trading_account",
                 entity_id=account_id, after={"login": info.login, "group": info.group, "leverage": info.leverage,
                                              "client_id": client.id, "account_type": request.account_type_code},
                 category="general")
    return request


async def _settle(session: AsyncSession, actor: Actor, request_id: int, status: str, error: str) -> None:
    request = await session.get(AccountRequest, request_id, with_for_update=True)
    assert request is not None
    # A failed request (platform refused) may be retried with the same key; a compensated one may not.
    request.status = status
    request.error, request.updated_at = error[:2000], utcnow()
    await record(session, actor, action="trading_account.request_" + request.status, entity_type="client",
                 entity_id=request.client_id, after={"login": request.login, "error": error[:500]},
                 category="general")
