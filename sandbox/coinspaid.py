"""A CoinsPaid (CryptoProcessing) stand-in on loopback speaking its API v2 wire format
(domain/payments/coinspaid.py is the adapter).

Signed API (X-Processing-Key + X-Processing-Signature = hex HMAC-SHA512 of the raw body; otherwise 401):
- POST /api/v2/addresses/take {currency, foreign_id, end_user_reference} -> {data: {id, currency, address, tag,
  foreign_id, end_user_reference}} (the same address again for the same foreign_id)
- POST /api/v2/withdrawal/crypto {foreign_id, amount, currency, address, end_user_reference}
  -> {data: {id, foreign_id, type: "withdrawal", status: "processing", amount, ...}}
Callbacks (type deposit / withdrawal; status not_confirmed / confirmed / cancelled) are signed the
same way and POSTed to the callback URL.

Public endpoints, standing in for the chain and the gateway's back office:
- POST /sandbox/deposits {address, currency, amount}: a transaction to the address is broadcast
  (callback not_confirmed, 0 confirmations) -> {id, txid, callback}
- POST /sandbox/deposits/<id>/confirmations {confirmations}: the transaction has n confirmations
  (callback not_confirmed, or confirmed once it reaches the asset's required count)
- POST /sandbox/deposits/<id>/cancel: dropped from the chain (callback cancelled)
- POST /sandbox/withdrawals/<id>/complete {status: confirmed | cancelled}: the payout is on chain or not
`callback` in each answer is our endpoint's HTTP status (null when it could not be reached).

Run: `python -m sandbox.coinspaid --host 127.0.0.1 --port N`; COINSPAID_API_KEY and
COINSPAID_SECRET_KEY (default: what our configuration uses, FOREXCRM_PSP_COINSPAID_* or derived
from the app secret), COINSPAID_CALLBACK_URL (default http://127.0.0.1:$FOREXCRM_PORT/webhooks/coinspaid).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import itertools
import os
import socket
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

from domain.payments.coinspaid import signature
from domain.payments.crypto import DEFAULT_CONFIRMATIONS, FALLBACK_CONFIRMATIONS

# Confirmations after which the gateway reports a deposit confirmed: our own defaults.
REQUIRED = dict(DEFAULT_CONFIRMATIONS)


@dataclass
class ChainTx:
    id: int
    txid: str
    asset: str
    address: str
    amount: str
    confirmations: int = 0
    cancelled: bool = False


@dataclass
class CoinsPaidStandIn:
    callback_url: str
    api_key: str
    secret: str
    base_url: str = ""
    required: dict[str, int] = field(default_factory=lambda: dict(REQUIRED))
    addresses: dict[str, dict[str, Any]] = field(default_factory=dict)  # foreign_id -> data
    transactions: dict[int, ChainTx] = field(default_factory=dict)
    withdrawals: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    # --- callbacks -------------------------------------------------------------------------------------------

    def status_of(self, tx: ChainTx, confirmations: int) -> str:
        if tx.cancelled:
            return "cancelled"
        return "confirmed" if confirmations >= self.required.get(tx.asset, FALLBACK_CONFIRMATIONS) else "not_confirmed"

    def event(self, tx: ChainTx, *, confirmations: int | None = None, status: str | None = None,
              event_id: int | None = None) -> bytes:
        """The deposit callback for the transaction (its CoinsPaid id unless another is given)."""
        n = tx.confirmations if confirmations is None else confirmations
        address = next((a for a in self.addresses.values() if a["address"] == tx.address), {})
        return orjson.dumps({
            "id": tx.id if event_id is None else event_id, "type": "deposit",
            "end_user_reference": address.get("end_user_reference"),
            "crypto_address": {"id": address.get("id", 0), "currency": tx.asset, "address": tx.address,
                               "foreign_id": address.get("foreign_id"), "tag": None},
            "currency_sent": {"currency": tx.asset, "amount": tx.amount},
            "currency_received": {"currency": tx.asset, "amount": tx.amount, "amount_minus_fee": tx.amount},
            "transactions": [{"id": tx.id, "currency": tx.asset, "transaction_type": "blockchain", "type": "deposit",
                              "address": tx.address, "tag": None, "amount": tx.amount, "txid": tx.txid,
                              "riskscore": "0.1", "confirmations": n}],
            "fees": [], "error": "", "status": status or self.status_of(tx, n)})

    def headers(self, body: bytes, *, secret: str | None = None, key: str | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json", "X-Processing-Key": self.api_key if key is None else key,
                "X-Processing-Signature": signature(secret or self.secret, body)}

    async def deliver(self, body: bytes, *, secret: str | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.callback_url, content=body,
                                     headers=self.headers(body, secret=secret) if headers is None else headers)

    async def _notify(self, body: bytes) -> int | None:
        """A callback from a public endpoint: our endpoint's status, None when it could not be reached."""
        try:
            return (await self.deliver(body)).status_code
        except httpx.HTTPError:
            return None

    # --- the chain, driven by tests and the demo ------------------------------------------------------------------

    def transaction(self, address: str, amount: str, asset: str = "BTC", *, confirmations: int = 0,
                    txid: str | None = None) -> ChainTx:
        tx = ChainTx(next(self._ids), txid or uuid.uuid4().hex + uuid.uuid4().hex, asset.upper(), address, amount,
                     confirmations)
        self.transactions[tx.id] = tx
        return tx

    async def broadcast(self, address: str, amount: str, asset: str = "BTC") -> tuple[ChainTx, httpx.Response]:
        tx = self.transaction(address, amount, asset)
        return tx, await self.deliver(self.event(tx))

    async def confirm(self, tx: ChainTx, confirmations: int) -> httpx.Response:
        tx.confirmations = confirmations
        return await self.deliver(self.event(tx))

    async def drop(self, tx: ChainTx) -> httpx.Response:
        tx.cancelled, tx.confirmations = True, 0
        response = await self.deliver(self.event(tx))
        tx.cancelled = False  # a later report (after a reorg) may call it confirmed again
        return response

    def withdrawal_event(self, withdrawal_id: int, status: str, *, error: str = "") -> bytes:
        w = self.withdrawals[withdrawal_id]
        return orjson.dumps({
            "id": withdrawal_id, "foreign_id": w["foreign_id"], "end_user_reference": w.get("end_user_reference"),
            "type": "withdrawal",
            "crypto_address": {"id": 1, "currency": w["currency"], "address": w["address"], "tag": w.get("tag")},
            "currency_sent": {"currency": w["currency"], "amount": w["amount"]},
            "currency_received": {"currency": w["currency"], "amount": w["amount"]},
            "transactions": [{"id": withdrawal_id, "currency": w["currency"], "transaction_type": "blockchain",
                              "type": "withdrawal", "address": w["address"], "tag": w.get("tag"),
                              "amount": w["amount"], "txid": w["txid"], "confirmations": 3}]
            if status == "confirmed" else [],
            "fees": [], "error": error if status != "confirmed" else "", "status": status})

    async def complete_withdrawal(self, withdrawal_id: int, status: str = "confirmed") -> httpx.Response:
        self.withdrawals[withdrawal_id]["status"] = status
        return await self.deliver(self.withdrawal_event(withdrawal_id, status, error="cancelled by the gateway"))

    # --- HTTP ---------------------------------------------------------------------------------------------------

    def _authentic(self, request: Request, body: bytes) -> bool:
        return hmac.compare_digest(request.headers.get("x-processing-key", ""), self.api_key) and \
            hmac.compare_digest(request.headers.get("x-processing-signature", ""), signature(self.secret, body))

    async def _signed(self, request: Request) -> tuple[dict[str, Any] | None, JSONResponse | None]:
        body = await request.body()
        if not self._authentic(request, body):
            self.refused += 1
            return None, JSONResponse({"errors": {"signature": "Bad signature header"}}, status_code=401)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, JSONResponse({"errors": {"body": "invalid JSON"}}, status_code=400)
        return data, None

    async def _take(self, request: Request) -> JSONResponse:
        data, refused = await self._signed(request)
        if data is None:
            assert refused is not None
            return refused
        currency, foreign_id = str(data.get("currency", "")).upper(), str(data.get("foreign_id", ""))
        if not currency or not foreign_id:
            return JSONResponse({"errors": {"currency": "required", "foreign_id": "required"}}, status_code=400)
        if foreign_id not in self.addresses:
            prefix = {"BTC": "bc1q", "LTC": "ltc1q", "XRP": "r"}.get(currency, "0x")
            self.addresses[foreign_id] = {"id": next(self._ids), "currency": currency,
                                          "address": f"{prefix}{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}",
                                          "tag": None, "foreign_id": foreign_id,
                                          "end_user_reference": data.get("end_user_reference")}
        return JSONResponse({"data": self.addresses[foreign_id]}, status_code=201)

    async def _withdraw(self, request: Request) -> JSONResponse:
        data, refused = await self._signed(request)
        if data is None:
            assert refused is not None
            return refused
        foreign_id = str(data.get("foreign_id", ""))
        if not foreign_id or not data.get("address") or not data.get("amount") or not data.get("currency"):
            return JSONResponse({"errors": {"request": "foreign_id, amount, currency and address are required"}},
                                status_code=400)
        existing = next((i for i, w in self.withdrawals.items() if w["foreign_id"] == foreign_id), None)
        if existing is None:
            existing = next(self._ids)
            self.withdrawals[existing] = {"foreign_id": foreign_id, "amount": str(data["amount"]),
                                          "currency": str(data["currency"]).upper(), "address": str(data["address"]),
                                          "tag": data.get("tag"), "end_user_reference": data.get("end_user_reference"),
                                          "status": "processing", "txid": uuid.uuid4().hex + uuid.uuid4().hex}
        w = self.withdrawals[existing]
        return JSONResponse({"data": {"id": existing, "foreign_id": foreign_id, "type": "withdrawal",
                                      "status": "processing", "amount": w["amount"], "sender_amount": w["amount"],
                                      "sender_currency": w["currency"], "receiver_amount": w["amount"],
                                      "receiver_currency": w["currency"]}}, status_code=201)

    async def _public_deposit(self, request: Request) -> JSONResponse:
        data = orjson.loads(await request.body() or b"{}")
        if not data.get("address") or not data.get("amount"):
            return JSONResponse({"errors": {"request": "address and amount are required"}}, status_code=400)
        tx = self.transaction(str(data["address"]), str(data["amount"]), str(data.get("currency", "BTC")))
        return JSONResponse({"id": tx.id, "txid": tx.txid, "callback": await self._notify(self.event(tx))})

    async def _public_confirm(self, request: Request) -> JSONResponse:
        tx = self.transactions.get(int(request.path_params["id"]))
        if tx is None:
            return JSONResponse({"errors": {"id": "unknown transaction"}}, status_code=404)
        data = orjson.loads(await request.body() or b"{}")
        tx.confirmations = int(data.get("confirmations", self.required.get(tx.asset, FALLBACK_CONFIRMATIONS)))
        callback = await self._notify(self.event(tx))
        return JSONResponse({"id": tx.id, "confirmations": tx.confirmations, "callback": callback})

    async def _public_cancel(self, request: Request) -> JSONResponse:
        tx = self.transactions.get(int(request.path_params["id"]))
        if tx is None:
            return JSONResponse({"errors": {"id": "unknown transaction"}}, status_code=404)
        tx.cancelled, tx.confirmations = True, 0
        callback = await self._notify(self.event(tx))
        tx.cancelled = False
        return JSONResponse({"id": tx.id, "callback": callback})

    async def _public_withdrawal(self, request: Request) -> JSONResponse:
        withdrawal_id = int(request.path_params["id"])
        if withdrawal_id not in self.withdrawals:
            return JSONResponse({"errors": {"id": "unknown withdrawal"}}, status_code=404)
        data = orjson.loads(await request.body() or b"{}")
        status = str(data.get("status", "confirmed"))
        if status not in ("confirmed", "cancelled"):
            return JSONResponse({"errors": {"status": "confirmed or cancelled"}}, status_code=400)
        self.withdrawals[withdrawal_id]["status"] = status
        callback = await self._notify(self.withdrawal_event(withdrawal_id, status, error="cancelled by the gateway"))
        return JSONResponse({"id": withdrawal_id, "status": status, "callback": callback})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/v2/addresses/take", self._take, methods=["POST"]),
            Route("/api/v2/withdrawal/crypto", self._withdraw, methods=["POST"]),
            Route("/sandbox/deposits", self._public_deposit, methods=["POST"]),
            Route("/sandbox/deposits/{id:int}/confirmations", self._public_confirm, methods=["POST"]),
            Route("/sandbox/deposits/{id:int}/cancel", self._public_cancel, methods=["POST"]),
            Route("/sandbox/withdrawals/{id:int}/complete", self._public_withdrawal, methods=["POST"]),
        ])

    @property
    def api_url(self) -> str:
        """What a payment method's base_url is set to (the real one: https://app.cryptoprocessing.com/api)."""
        return f"{self.base_url}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def running_coinspaid(callback_url: str, api_key: str, secret: str) -> AsyncIterator[CoinsPaidStandIn]:
    port = free_port()
    stand_in = CoinsPaidStandIn(callback_url, api_key, secret, base_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(stand_in.app(), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield stand_in
    finally:
        server.should_exit = True
        await task


def from_environment(host: str, port: int) -> CoinsPaidStandIn:
    from domain.payments.config import api_key, webhook_secrets
    from domain.shared.settings import get_settings

    settings = get_settings()
    api_port = os.environ.get("FOREXCRM_PORT", "8000")
    return CoinsPaidStandIn(
        os.environ.get("COINSPAID_CALLBACK_URL", f"http://127.0.0.1:{api_port}/webhooks/coinspaid"),
        os.environ.get("COINSPAID_API_KEY") or api_key(settings, "coinspaid"),
        os.environ.get("COINSPAID_SECRET_KEY") or webhook_secrets(settings, "coinspaid")[0],
        base_url=f"http://{host}:{port}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.coinspaid", description="A CoinsPaid stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18611)
    args = parser.parse_args(argv)
    stand_in = from_environment(args.host, args.port)
    uvicorn.run(stand_in.app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
