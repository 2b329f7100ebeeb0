"""A live account whose recording fails after the platform created it is compensated: the platform
account is made read-only and the request marked compensated, never left as a live orphan."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.clients.accounts import open_live_account
from domain.clients.errors import InvalidTransition
from domain.platforms.port import AccountInfo, AccountRights, NewAccount
from domain.shared.actor import Actor, ActorKind
from tests.clients.flow import DECIDE, SUBMIT, to_documents
from tests.identity.staff import make_staff
from tests.ids import db_id

DEALER = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"trading.manage"}))


async def test_blocked_meanwhile_is_compensated(http: httpx.AsyncClient, session_factory: Any, settings: Any,
                                                upload_url: str, brokerage: int, client_sim: Any) -> None:
    client, _, client_id = await to_documents(http, session_factory, upload_url)
    await client(SUBMIT)
    compliance = await make_staff(http, session_factory, settings, ["compliance"])
    await compliance.client(DECIDE, {"c": client_id, "d": "APPROVE", "r": "ok"})
    real = client_sim.platform()

    class BlockedWhileCreating:
        """The real adapter; compliance blocks the client while the platform call is in flight."""

        async def create_account(self, account: NewAccount) -> AccountInfo:
            info: AccountInfo = await real.create_account(account)
            async with session_factory() as s, s.begin():
                await s.execute(text("UPDATE clients SET status = 'blocked' WHERE id = :c"), {"c": db_id(client_id)})
            return info

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    with pytest.raises(InvalidTransition):
        await open_live_account(session_factory, settings, DEALER, db_id(client_id),
                                platforms=lambda server: BlockedWhileCreating())
    async with session_factory() as s:
        status, server, login = (await s.execute(text(
            "SELECT status, server_id, login FROM client_account_requests WHERE client_id = :c"),
            {"c": db_id(client_id)})).one()
        # a login is unique per server only: other tests' servers hand out the same numbers
        accounts = await s.scalar(text("SELECT count(*) FROM trading_accounts WHERE server_id = :s AND login = :l"),
                                  {"s": server, "l": login})
    assert status == "compensated" and accounts == 0
    checker = client_sim.platform()
    try:
        assert (await checker.get_account(login)).rights is AccountRights.READ_ONLY
    finally:
        await checker.aclose()
