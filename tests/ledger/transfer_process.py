"""A client process making wallet <-> trading account transfers, for the crash test.

Usage: python -m tests.ledger.transfer_process DATABASE_URL SIM_URL PASSWORD USER_ID WALLET_ID LOGIN KEYS...
Each key is `to:<n>` or `from:<n>`; a repeated run retries the same keys, as a real client would
after a crash.
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

from domain.ledger import transfers
from domain.platforms.mt5 import MT5Credentials, MT5Platform
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import create_engine, create_session_factory
from domain.shared.errors import DomainError
from domain.shared.settings import Settings

AMOUNT = Decimal("7.00")


async def main(argv: list[str]) -> None:
    db, sim_url, password, uid, wid, login, *keys = argv
    engine = create_engine(db, Settings(), pool_size=2)
    factory = create_session_factory(engine)
    platform = MT5Platform.connect(MT5Credentials(sim_url, 1000, password), timeout=2.0, retries=1, backoff=0.01)
    actor = Actor(ActorKind.CLIENT, user_id=int(uid))
    for key in keys:
        fn = transfers.transfer_to_trading_account if key.startswith("to:") else transfers.transfer_from_trading_account
        try:
            await fn(factory, actor, user_id=int(uid), wallet_id=int(wid), server_id="sim", login=int(login),
                     amount=AMOUNT, idempotency_key=key, platforms=lambda _sid: platform)
        except DomainError as exc:  # e.g. not enough money on the account yet: a refusal, not a crash
            print(f"{key} refused {exc.code}", flush=True)
        print(f"{key} ok", flush=True)
    await platform.aclose()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
