"""A stand-in crypto deposit provider on loopback (Starlette under uvicorn), speaking the protocol
of domain/payments/crypto.py: it issues deposit addresses (POST /v1/addresses, idempotent per key)
and reports chain transactions with their confirmation counts as signed webhooks to our real
/webhooks/<provider>.

Test controls (not part of the provider protocol): `broadcast` puts a transaction to an address in
the mempool, `confirm` reports it with n confirmations, `drop` reports it gone (reorg, eviction).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.shared.webhooks import sign
from sandbox.serve import free_port


@dataclass
class ChainTx:
    txid: str
    asset: str
    address: str
    amount: str
    confirmations: int = 0


@dataclass
class StandInChain:
    provider: str
    webhook_url: str
    secret: str
    api_key: str
    base_url: str = ""
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)  # idempotency key -> answer
    transactions: dict[str, ChainTx] = field(default_factory=dict)
    address_calls: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def event(self, type_: str, tx: ChainTx, *, confirmations: int | None = None,
              event_id: str | None = None) -> bytes:
        return orjson.dumps({"id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "type": type_, "data": {
            "asset": tx.asset, "txid": tx.txid, "address": tx.address, "amount": tx.amount,
            "confirmations": tx.confirmations if confirmations is None else confirmations}})

    async def deliver(self, body: bytes, *, secret: str | None = None) -> httpx.Response:
        headers = {"X-Signature": sign(secret or self.secret, body), "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.webhook_url, content=body, headers=headers)

    async def broadcast(self, address: str, amount: str, asset: str = "BTC") -> tuple[ChainTx, httpx.Response]:
        tx = ChainTx(uuid.uuid4().hex + uuid.uuid4().hex, asset, address, amount)
        self.transactions[tx.txid] = tx
        return tx, await self.deliver(self.event("transaction.updated", tx))

    async def confirm(self, tx: ChainTx, confirmations: int) -> httpx.Response:
        tx.confirmations = confirmations
        return await self.deliver(self.event("transaction.updated", tx))

    async def drop(self, tx: ChainTx) -> httpx.Response:
        tx.confirmations = 0
        return await self.deliver(self.event("transaction.dropped", tx))

    def app(self) -> Starlette:
        async def issue_address(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"error": "bad api key"}, status_code=401)
            body: dict[str, Any] = await request.json()
            self.address_calls += 1
            key = request.headers.get("idempotency-key", "")
            if key not in self.addresses:
                prefix = {"BTC": "bc1q", "LTC": "ltc1q"}.get(body["asset"], "0x")
                self.addresses[key] = {"address": f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex}",
                                       "asset": body["asset"]}
            return JSONResponse(self.addresses[key])

        return Starlette(routes=[Route("/v1/addresses", issue_address, methods=["POST"])])


@contextlib.asynccontextmanager
async def running_chain(provider: str, webhook_base: str, secret: str, api_key: str) -> AsyncIterator[StandInChain]:
    port = free_port()
    chain = StandInChain(provider, f"{webhook_base}/webhooks/{provider}", secret, api_key,
                         base_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(chain.app(), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield chain
    finally:
        server.should_exit = True
        await task


if __name__ == "__main__":
    from sandbox.serve import env, serve_main

    def _build(base_url: str) -> Starlette:
        provider = env("SANDBOX_CRYPTO_PROVIDER", "cryptopay")
        return StandInChain(provider, env("SANDBOX_CRYPTO_WEBHOOK_URL"), env("SANDBOX_CRYPTO_WEBHOOK_SECRET"),
                            env("SANDBOX_CRYPTO_API_KEY"), base_url=base_url).app()

    serve_main("crypto", _build)
