"""Kill -9 a process in the middle of transfers, restart it, recover: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from domain.ledger import transfers, wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.platforms.port import NewAccount
from domain.shared.db import in_transaction, utcnow
from tests.ledger.conftest import check_invariants, client, key, wallet_balance

REPO = Path(__file__).resolve().parents[2]
INITIAL = Decimal("1000.00")


async def _transfer_count(factory, login: int, uid: int) -> int:
    # Logins repeat across simulator instances: the user id makes the rows this test's own.
    async with factory() as s:
        return int(await s.scalar(text("SELECT count(*) FROM ledger_transfers WHERE login = :l AND user_id = :u"),
                                  {"l": login, "u": uid}) or 0)


async def test_killed_client_process_loses_and_doubles_nothing(session_factory, make_user, sim, settings) -> None:
    platform = sim.platform(timeout=2.0)
    uid = await make_user()
    login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="Crash"))).login
    currency = (await platform.get_account_state(login)).currency

    async def prepare(s):
        await link_trading_account(s, user_id=uid, server_id="sim", login=login, currency=currency)
        await wallets.deposit_to_wallet(s, client(uid), user_id=uid, currency=currency, amount=INITIAL,
                                        idempotency_key=key())
        return (await wallet_for(s, uid, currency)).id

    wid = await in_transaction(session_factory, prepare)
    keys = [f"{'to' if i % 3 != 2 else 'from'}:{key()}" for i in range(24)]
    argv = [sys.executable, "-m", "tests.ledger.transfer_process", settings.database_url, sim.base_url, sim.password,
            str(uid), str(wid), str(login), *keys]

    # First run: killed without warning once a few transfers exist (some may be mid-flight).
    first = subprocess.Popen(argv, cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    for _ in range(400):
        if await _transfer_count(session_factory, login, uid) >= 6 or first.poll() is not None:
            break
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    # The client retries every key; recovery settles whatever the crash left open.
    second = subprocess.run(argv, cwd=REPO, env=os.environ.copy(), capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    await transfers.recover_transfers(session_factory, platforms=lambda _sid: platform,
                                      now=utcnow() + timedelta(minutes=10))

    async with session_factory() as s:
        rows = (await s.execute(text(
            "SELECT status, direction, amount FROM ledger_transfers WHERE login = :l AND user_id = :u"),
            {"l": login, "u": uid})).all()
    assert len(rows) <= len(keys)
    assert {r.status for r in rows} <= {"done", "failed"}, rows
    moved = sum((r.amount if r.direction == "to_account" else -r.amount) for r in rows if r.status == "done")
    state = await platform.get_account_state(login)
    balance, held = await wallet_balance(session_factory, wid)
    # Every cent is in exactly one place: the wallet or the trading account.
    assert state.balance == moved
    assert balance + state.balance == INITIAL
    assert held == Decimal("0")
    await check_invariants(session_factory)
    await platform.aclose()
