"""The production money paths for `bench wallet_transfers`, each yielding a measure(seconds) -> Phase:

- a card deposit credited by its PSP webhook: deposits opened the production way beforehand (the
  client's request, a Checkout Session on the Stripe stand-in), then the stand-in's signed
  `checkout.session.completed` events POSTed to the API's /webhooks/stripe, CONCURRENCY at a time;
  a phase counts the deliveries answered "applied" (each one ledger credit);
- a transfer from a client's wallet to their trading account on the MT5 simulator (a separate
  process speaking the MT5 Web API) through the domain saga: hold, platform deposit carrying the
  external id, capture; a phase counts transfers that ended `done`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from bench.harness import stop_process
from bench.loadgen import build_request, run_load
from domain.ledger import transfers, wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.payments import deposits, methods
from domain.payments.config import api_key, webhook_secrets
from domain.platforms.mt5 import MT5Credentials
from domain.platforms.mt5.adapter import MT5Platform
from domain.platforms.port import NewAccount
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import create_engine, create_session_factory, in_transaction
from domain.shared.settings import Settings
from sandbox.serving import free_port
from sandbox.stripe import running_stripe, stripe_signature

CARD = "bench-card"
DEPOSIT = Decimal("10.00")
MANAGER_LOGIN = 1000


@contextlib.asynccontextmanager
async def webhook_deposits(db_url: str, port: int, uids: list[int], concurrency: int,
                           ) -> AsyncIterator[Callable[[float], Awaitable[tuple[int, list[float], float, int]]]]:
    settings = Settings(db_max_overflow=0)
    engine = create_engine(db_url, settings, pool_size=8)  # closed while the API works: connections are few
    factory = create_session_factory(engine)
    secret = webhook_secrets(settings, "stripe")[0]
    async with running_stripe(f"http://127.0.0.1:{port}/webhooks/stripe", secret,
                              api_key(settings, "stripe")) as psp:
        async def setup(s: Any) -> None:
            await methods.upsert(s, code=CARD, kind="card", provider="stripe", currency="USD", base_url=psp.base_url,
                                 min_amount=Decimal(10), max_amount=Decimal(5000), fee_percent=Decimal(2),
                                 display_name="Card")
            for uid in uids:  # clients compliance approved (payment status gates let them pay)
                await s.execute(text("INSERT INTO clients (user_id, status, country) VALUES (:u, 'approved', 'DE') "
                                     "ON CONFLICT (user_id) DO UPDATE SET status = 'approved', country = 'DE'"),
                                {"u": uid})

        bodies: collections.deque[bytes] = collections.deque()

        async def open_deposits(n: int) -> None:
            """n pending card deposits, each with the paid event its Checkout Session will send."""
            async def one(i: int) -> None:
                uid = uids[i % len(uids)]
                payment = await deposits.create_deposit(
                    factory, settings, Actor(ActorKind.CLIENT, user_id=uid), user_id=uid, method_code=CARD,
                    currency="USD", amount=DEPOSIT, country="DE", return_url="https://portal.example/return")
                assert payment.provider_payment_id
                bodies.append(psp.paid_event(payment.provider_payment_id))

            for start in range(0, n, concurrency):
                await asyncio.gather(*(one(i) for i in range(start, min(n, start + concurrency))))
            await engine.dispose()

        def request(_index: int) -> bytes:
            body = bodies.popleft()
            return build_request("127.0.0.1", port, "/webhooks/stripe", body,
                                 {"Stripe-Signature": stripe_signature(secret, body)})

        rate = [400.0]  # a first guess; each phase opens enough deposits for the rate last seen, and half again

        async def measure(seconds: float) -> tuple[int, list[float], float, int]:
            await open_deposits(max(0, int(rate[0] * (seconds + 0.5) * 1.5) - len(bodies)))
            applied = [0]

            def seen(_index: int, body: bytes) -> None:
                if body == b'{"status":"applied"}':
                    applied[0] += 1

            result = await run_load("127.0.0.1", port, request, concurrency=concurrency, seconds=seconds,
                                    warmup=0.0, seen=seen, ok=lambda body: body == b'{"status":"applied"}')
            rate[0] = max(50.0, result.rps)
            return applied[0], list(result.latencies), result.seconds, result.errors

        try:
            await in_transaction(factory, setup)
            await measure(1.0)  # warm-up: plans, pools, caches
            yield measure
        finally:
            await engine.dispose()


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[MT5Platform]:
    """The MT5 simulator in its own process, and the MT5 adapter connected to it."""
    password = secrets.token_urlsafe(12) + "Aa1!"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as data_dir:
        proc = subprocess.Popen([sys.executable, "-m", "sandbox.simulator", "--port", str(port), "--data-dir",
                                 data_dir, "--rate", "0", "--manager-login", str(MANAGER_LOGIN)],
                                env={**os.environ, "SIM_MANAGER_PASSWORD": password},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            async with httpx.AsyncClient() as http:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        (await http.get(f"http://127.0.0.1:{port}/sim/state", timeout=0.5)).raise_for_status()
                        break
                    except httpx.HTTPError as exc:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            said = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                            raise RuntimeError(f"simulator did not start: {said}") from exc
                        await asyncio.sleep(0.1)
            platform = MT5Platform.connect(MT5Credentials(f"http://127.0.0.1:{port}", MANAGER_LOGIN, password),
                                           timeout=5.0, retries=2, backoff=0.01)
            try:
                yield platform
            finally:
                await platform.aclose()
        finally:
            stop_process(proc, timeout=10)


@contextlib.asynccontextmanager
async def account_transfers(db_url: str, uids: list[int],
                            ) -> AsyncIterator[Callable[[float], Awaitable[tuple[int, list[float], float, int]]]]:
    engine = create_engine(db_url, Settings(db_max_overflow=0), pool_size=len(uids) // 2)
    factory = create_session_factory(engine)
    async with simulator() as platform, contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        accounts: list[tuple[int, int, int]] = []  # (user, wallet, login)
        for uid in uids:
            login = (await platform.create_account(NewAccount(group="real\\standard", leverage=100, name="B"))).login

            async def prepare(s: Any, uid: int = uid, login: int = login) -> int:
                await link_trading_account(s, user_id=uid, server_id="sim", login=login, currency="USD")
                await wallets.deposit_to_wallet(s, system_actor("bench"), user_id=uid, currency="USD",
                                                amount=Decimal("1000000"), idempotency_key=uuid.uuid4().hex)
                return (await wallet_for(s, uid, "USD")).id

            accounts.append((uid, await in_transaction(factory, prepare), login))

        async def measure(seconds: float) -> tuple[int, list[float], float, int]:
            done, errors, latencies = 0, 0, []
            deadline = time.perf_counter() + seconds

            async def client(uid: int, wid: int, login: int) -> None:
                nonlocal done, errors
                actor = Actor(ActorKind.CLIENT, user_id=uid)
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    view = await transfers.transfer_to_trading_account(
                        factory, actor, user_id=uid, wallet_id=wid, server_id="sim", login=login, amount=DEPOSIT,
                        idempotency_key=uuid.uuid4().hex, platforms=functools.partial(lambda p, _sid: p, platform))
                    latencies.append(time.perf_counter() - t)
                    if view.status is transfers.TransferStatus.DONE:
                        done += 1
                    else:
                        errors += 1

            started = time.perf_counter()
            await asyncio.gather(*(client(*a) for a in accounts))
            took = time.perf_counter() - started
            await engine.dispose()  # no idle connections held while the other parts run
            return done, latencies, took, errors

        await measure(1.0)  # warm-up
        yield measure
