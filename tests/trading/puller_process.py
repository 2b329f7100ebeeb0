"""Run pull_server in a process of its own (the crash test kills it with SIGKILL).

python -m tests.trading.puller_process DATABASE_URL SERVER_ID BASE_URL PASSWORD PAGE_SIZE PAUSE_S
"""

from __future__ import annotations

import asyncio
import sys

from domain.platforms.mt5 import MT5Credentials, MT5Platform
from domain.shared.db import create_engine, create_session_factory
from domain.shared.settings import Settings
from domain.trading.puller import pull_server
from tests.platforms.conftest import MANAGER_LOGIN


async def main(database_url: str, server_id: int, base_url: str, password: str, size: int, pause: float) -> None:
    engine = create_engine(database_url, Settings(), pool_size=2)
    platform = MT5Platform.connect(MT5Credentials(base_url, MANAGER_LOGIN, password), timeout=5.0)
    try:
        result = await pull_server(
            create_session_factory(engine), server_id, platform, page_size=size, page_pause_s=pause,
            ignore_backoff=True,
        )
        print(f"pages={result.pages} inserted={result.inserted} error={result.error}", flush=True)
    finally:
        await platform.aclose()
        await engine.dispose()


if __name__ == "__main__":
    url, sid, base, pw, size, pause = sys.argv[1:7]
    asyncio.run(main(url, int(sid), base, pw, int(size), float(pause)))
