"""The anchor of `bench portal_read`: the same two pages as plain asyncpg + Starlette endpoints,
producing byte-identical JSON to the GraphQL answers from the same database (the scenario asserts
it once per run). Run as its own process: `python -m bench.portal_anchor --port N` with DATABASE_URL.

What a hand-written endpoint must do too is done here: the bearer token is verified (the same
signed access token the API issues) and the rows are the caller's own (the client page) or need a
staff token (the list). The JSON shapes follow the bench documents in bench/scenarios/portal_read.py:
when the schema changes a shape (ids, connections), both change together.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.relay import to_base64

from domain.identity.jwt_tokens import verify_access_token
from domain.shared.db import asyncpg_dsn, normalise_database_url
from domain.shared.money import at_scale
from domain.shared.settings import Settings

PAGE = 50

ACCOUNTS_SQL = """SELECT id, server_id, login, "group", leverage, currency, account_type, created_at
FROM trading_accounts WHERE user_id = $1 ORDER BY created_at, id LIMIT 50"""
WALLETS_SQL = """SELECT a.owner_id, a.id, a.currency, b.balance, b.held FROM ledger_accounts a
JOIN ledger_balances b ON b.account_id = a.id AND b.shard = 0
WHERE a.owner_id = ANY($1::bigint[]) AND a.purpose = 'client_wallet' ORDER BY a.owner_id, a.currency"""
DEALS_SQL = """SELECT d.deal_id, d.time, d.login, d.position_id, d.action, d.entry, d.symbol, d.price, d.volume,
       d.profit, d.commission, d.storage, d.fee, d.comment
FROM trading_accounts t JOIN trading_deals d ON d.server_id = t.server_id AND d.login = t.login
WHERE t.id = $1 AND t.user_id = $2 ORDER BY d.time DESC, d.deal_id DESC LIMIT $3"""
CLIENTS_SQL = """SELECT id, user_id, status, first_name, last_name, country, created_at FROM clients
ORDER BY created_at DESC, id DESC LIMIT $1"""
STAFF_SQL = "SELECT is_staff FROM users WHERE id = $1"


GLOBAL_IDS = {"Wallet", "TradingAccount", "ClientSummary"}  # the types with Relay global ids (schema/node.py)


def node_id(type_name: str, pk: int) -> str:
    """How the schema writes an entity's id: strawberry's base64 "Type:key" for a Node, else the key."""
    return to_base64(type_name, pk) if type_name in GLOBAL_IDS else str(pk)


def money(value: Decimal) -> str:
    return format(value if value else abs(value), "f")


def decimal(value: Decimal) -> str:
    normal = value.normalize()
    return format(normal if normal else abs(normal), "f")


def wallet(row: asyncpg.Record, fields: tuple[str, ...]) -> dict[str, Any]:
    cur = row["currency"]
    balance, held = at_scale(row["balance"], cur), at_scale(row["held"], cur)
    every = {"id": node_id("Wallet", row["id"]), "currency": cur, "balance": money(balance), "held": money(held),
             "available": money(at_scale(balance - held, cur))}
    return {f: every[f] for f in fields}


def account(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": node_id("TradingAccount", r["id"]), "serverId": str(r["server_id"]), "login": r["login"],
            "group": r["group"], "leverage": r["leverage"], "currency": r["currency"],
            "accountType": r["account_type"], "createdAt": r["created_at"].isoformat()}


def deal(r: asyncpg.Record) -> dict[str, Any]:
    return {"dealId": str(r["deal_id"]), "time": r["time"].isoformat(), "login": r["login"],
            "positionId": str(r["position_id"]), "action": r["action"], "entry": r["entry"], "symbol": r["symbol"],
            "price": decimal(r["price"]), "volume": decimal(r["volume"]), "profit": money(r["profit"]),
            "commission": money(r["commission"]), "swap": money(r["storage"]), "fee": money(r["fee"]),
            "comment": r["comment"]}


def build_app(dsn: str, settings: Settings) -> Starlette:
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=4, max_size=12)
        try:
            yield
        finally:
            await pool.close()

    def user_of(request: Request) -> int | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        try:
            return verify_access_token(settings, header[7:]).user_id
        except Exception:  # any bad token is "unauthenticated"
            return None

    async def portal(request: Request) -> Response:
        uid = user_of(request)
        if uid is None:
            return Response(status_code=401)
        account_id = int(request.query_params["account"])
        assert pool is not None
        async with pool.acquire() as conn:
            accounts = await conn.fetch(ACCOUNTS_SQL, uid)
            wallets = await conn.fetch(WALLETS_SQL, [uid])
            deals = await conn.fetch(DEALS_SQL, account_id, uid, PAGE)
        fields = ("id", "currency", "balance", "held", "available")
        body = {"data": {"myTradingAccounts": {"nodes": [account(r) for r in accounts]},
                         "myWallets": [wallet(r, fields) for r in wallets],
                         "deals": {"nodes": [deal(r) for r in deals]}}}
        return Response(orjson.dumps(body), media_type="application/json")

    async def staff_clients(request: Request) -> Response:
        uid = user_of(request)
        if uid is None:
            return Response(status_code=401)
        assert pool is not None
        async with pool.acquire() as conn:
            if not await conn.fetchval(STAFF_SQL, uid):
                return Response(status_code=403)
            clients = await conn.fetch(CLIENTS_SQL, PAGE)
            wallets = await conn.fetch(WALLETS_SQL, [c["user_id"] for c in clients])
        by_user: dict[int, list[dict[str, Any]]] = {c["user_id"]: [] for c in clients}
        for w in wallets:
            by_user[w["owner_id"]].append(wallet(w, ("currency", "balance", "available")))
        nodes = [{"id": node_id("ClientSummary", c["id"]), "status": c["status"].upper(),
                  "name": f"{c['first_name']} {c['last_name']}".strip(), "country": c["country"],
                  "createdAt": c["created_at"].isoformat(), "wallets": by_user[c["user_id"]]} for c in clients]
        return Response(orjson.dumps({"data": {"clients": {"nodes": nodes}}}), media_type="application/json")

    return Starlette(routes=[Route("/portal", portal), Route("/staff/clients", staff_clients)],
                     lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.portal_anchor")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    dsn = asyncpg_dsn(normalise_database_url(os.environ["DATABASE_URL"]))
    uvicorn.run(build_app(dsn, settings), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
