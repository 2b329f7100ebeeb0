"""The MT4 Manager-API sidecar contract (docs/platforms/mt4-sidecar.md) over the simulator's engine.

MT4 has no web API; a broker runs a small Windows service beside the MT4 server that holds a Manager API
session (and a pumping connection for pushed trades) and answers this JSON-over-HTTP contract. This module
is that sidecar with the simulated server behind it: same engine, traders and /sim controls as the MT5 Web
API simulator, another wire format. Deals are the sidecar's journal of MT4 trade transactions (an open, a
close, a balance or credit operation), numbered by the sidecar.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sandbox.simulator import mt5_codes as rc
from sandbox.simulator.app import Simulator
from sandbox.simulator.engine import (
    GROUPS,
    LOT_EXT,
    RIGHT_ENABLED,
    RIGHT_READONLY,
    RIGHT_TRADE_DISABLED,
    RIGHTS_DEFAULT,
    Account,
    SimError,
)
from sandbox.simulator.market import INSTRUMENTS

SIGNATURE_WINDOW_MS = 30_000
PAGE_MAX = 1000
STREAM_POLL_S = 0.02
HEARTBEAT_S = 5.0
ACTIONS = {0: "buy", 1: "sell", 2: "balance", 3: "credit", 4: "charge", 5: "correction", 6: "bonus"}
ENTRIES = {0: "in", 1: "out"}
# kind -> (engine deal action, sign applied to the positive amount; 0: the amount is signed)
KINDS: dict[str, tuple[int, int]] = {
    "deposit": (2, 1), "withdrawal": (2, -1), "credit_in": (3, 1), "credit_out": (3, -1), "charge": (4, -1),
    "correction": (5, 0), "bonus": (6, 0),
}  # fmt: skip
_SIM_TO_STATUS = {rc.NOTFOUND: (404, "ACCOUNT_NOT_FOUND"), rc.USR_LOGIN_EXIST: (409, "ACCOUNT_EXISTS"),
                  rc.REQUEST_NO_MONEY: (422, "NOT_ENOUGH_MONEY"), rc.REQUEST_TRADE_DISABLED: (422, "TRADE_DISABLED")}


class ContractError(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status, self.code = status, code


def signature(secret: str, timestamp_ms: str, method: str, target: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp ms>\\n<METHOD>\\n<path?query>\\n<sha256 hex of the body>` (hex)."""
    message = "\n".join((timestamp_ms, method.upper(), target, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _target(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def _error(status: int, code: str, message: str = "") -> Response:
    return Response(orjson.dumps({"error": {"code": code, "message": message or code}}), status_code=status,
                    media_type="application/json")


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def rights_name(bits: int) -> str:
    if not bits & RIGHT_ENABLED:
        return "disabled"
    if bits & RIGHT_READONLY:
        return "read_only"
    return "trade_disabled" if bits & RIGHT_TRADE_DISABLED else "enabled"


def rights_bits(name: str, current: int = RIGHTS_DEFAULT) -> int:
    bits = current & ~(RIGHT_ENABLED | RIGHT_TRADE_DISABLED | RIGHT_READONLY)
    extra = {"enabled": RIGHT_ENABLED, "trade_disabled": RIGHT_ENABLED | RIGHT_TRADE_DISABLED,
             "read_only": RIGHT_ENABLED | RIGHT_READONLY, "disabled": 0}
    if name not in extra:
        raise ContractError(400, "INVALID_REQUEST", f"rights: one of {', '.join(extra)}")
    return bits | extra[name]


def account_json(a: Account) -> dict[str, Any]:
    return {"login": a.login, "group": a.group, "leverage": a.leverage, "rights": rights_name(a.rights),
            "name": a.name, "email": a.email, "country": a.country, "registered_ms": a.registration * 1000}


class Sidecar:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.engine = sim.engine
        self.secret = sim.config.manager_password
        self.login = str(sim.config.manager_login)

    # -- plumbing ---------------------------------------------------------------------------------

    async def handle(self, request: Request, handler: Any) -> Response:
        faults = self.sim.faults
        if faults.unavailable > 0:
            faults.unavailable -= 1
            return _error(503, "MT4_UNAVAILABLE", "the sidecar has no connection to the MT4 server")
        body = await request.body()
        if not self._authentic(request, body):
            return _error(401, "AUTH_FAILED", "unknown manager or bad signature")
        try:
            data = orjson.loads(body) if body else {}
            result: Response = await handler(self, request, data)
        except ContractError as exc:
            self.engine.commit()
            return _error(exc.status, exc.code, str(exc))
        except SimError as exc:
            self.engine.commit()
            status, code = _SIM_TO_STATUS.get(exc.retcode, (400, "INVALID_REQUEST"))
            return _error(status, code, str(exc))
        except (KeyError, ValueError, TypeError, InvalidOperation, orjson.JSONDecodeError) as exc:
            return _error(400, "INVALID_REQUEST", f"bad request: {exc}")
        self.engine.commit()
        return result

    def _authentic(self, request: Request, body: bytes) -> bool:
        faults = self.sim.faults
        if faults.fail_auth > 0:
            faults.fail_auth -= 1
            return False
        stamp = request.headers.get("x-timestamp", "")
        given = request.headers.get("x-signature", "")
        if request.headers.get("x-manager-login") != self.login or not stamp.isdigit():
            return False
        if abs(int(stamp) - int(time.time() * 1000)) > SIGNATURE_WINDOW_MS:
            return False
        expected = signature(self.secret, stamp, request.method, _target(request), body)
        return hmac.compare_digest(expected, given.lower())

    # -- deals --------------------------------------------------------------------------------------

    def deal_json(self, raw: str) -> dict[str, Any]:
        d = orjson.loads(raw)
        action = int(d["Action"])
        deal = int(d["Deal"])
        external = self.sim.store.get_meta(f"deal-op:{deal}") if action in (2, 3, 4, 5, 6) else None
        return {
            "deal": deal, "login": int(d["Login"]), "ticket": int(d["PositionID"]), "order": int(d["Order"]),
            "action": ACTIONS.get(action, f"other:{action}"), "entry": ENTRIES.get(int(d["Entry"]), "none"),
            "time_ms": int(d["TimeMsc"]), "symbol": d["Symbol"], "price": d["Price"],
            "volume": str(Decimal(int(d["VolumeExt"])) / LOT_EXT) if int(d["VolumeExt"]) else "0",
            "profit": d["Profit"], "commission": d["Commission"], "swap": d["Storage"],
            "contract_size": d["ContractSize"], "rate_profit": d["RateProfit"], "comment": d["Comment"],
            "external_id": external, "reason": int(d["Reason"]),
        }  # fmt: skip


def _int_param(request: Request, name: str, default: int | None = None) -> int:
    value = request.query_params.get(name)
    if value is None:
        if default is None:
            raise ContractError(400, "INVALID_REQUEST", f"{name} is required")
        return default
    return int(value)


def _cursor(request: Request) -> tuple[int, int]:
    return _int_param(request, "after_time_ms", 0), _int_param(request, "after_deal", 0)


def _group(name: Any) -> str:
    if not isinstance(name, str) or name not in GROUPS:
        raise ContractError(422, "INVALID_GROUP", f"group {name!r} does not exist")
    return name


def _leverage(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5000:
        raise ContractError(400, "INVALID_REQUEST", "leverage: an integer from 1 to 5000")
    return value


async def ping(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    return _json({"server_time_ms": s.engine.clock(), "mt4_connected": True})


async def create_account(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    group = _group(data.get("group"))
    account = s.engine.add_user({
        "Login": data.get("login") or 0, "Group": group, "Leverage": _leverage(data.get("leverage")),
        "Rights": rights_bits(str(data.get("rights", "enabled"))), "Name": data.get("name", ""),
        "EMail": data.get("email", ""), "Country": data.get("country", ""), "Phone": data.get("phone", ""),
        "City": data.get("city", ""), "Address": data.get("address", ""), "ZipCode": data.get("zip_code", ""),
        "Comment": data.get("comment", ""), "LeadSource": data.get("lead_source", ""),
        "PassMain": data.get("password", ""),
    })  # fmt: skip
    return _json({"account": account_json(account)}, status=201)


async def get_account(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    return _json({"account": account_json(s.engine.account(int(request.path_params["login"])))})


async def update_account(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    login = int(request.path_params["login"])
    current = s.engine.account(login)
    changes: dict[str, Any] = {}
    if data.get("group") is not None:
        changes["Group"] = _group(data["group"])
    if data.get("leverage") is not None:
        changes["Leverage"] = _leverage(data["leverage"])
    if data.get("rights") is not None:
        changes["Rights"] = rights_bits(str(data["rights"]), current.rights)
    return _json({"account": account_json(s.engine.update_user(login, changes))})


async def account_state(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    login = int(request.path_params["login"])
    account = s.engine.account(login)
    f = s.engine.figures(login)
    return _json({"state": {
        "login": login, "currency": GROUPS[account.group].currency, "balance": str(f.balance),
        "credit": str(f.credit), "equity": str(f.equity), "margin": str(f.margin),
        "margin_free": str(f.margin_free), "margin_level": str(f.margin_level),
        "floating_profit": str(f.floating + f.storage),
    }})  # fmt: skip


async def balance(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    login, kind, external_id = int(data["login"]), str(data["kind"]), str(data.get("external_id") or "")
    if kind not in KINDS or not 1 <= len(external_id) <= 64:
        raise ContractError(400, "INVALID_REQUEST", "kind and external_id (1-64 characters) are required")
    amount = Decimal(str(data["amount"]))
    action, sign = KINDS[kind]
    if not amount.is_finite() or amount == 0 or (sign and amount < 0):
        raise ContractError(400, "INVALID_REQUEST", "amount: positive (signed for correction and bonus)")
    signed = amount * sign if sign else amount
    comment = str(data.get("comment", ""))[:31]
    earlier = s.sim.store.get_meta(f"op:{external_id}")
    if earlier is not None:
        if (earlier["login"], earlier["kind"], Decimal(earlier["amount"])) != (login, kind, signed.quantize(
                Decimal("0.01"))):
            raise ContractError(409, "IDEMPOTENCY_CONFLICT", "external_id was used for another operation")
        return _json({"operation": earlier, "replayed": True})
    ticket = s.engine.balance_operation(login, action, signed, comment, bool(data.get("check_margin", True)))
    operation = {"ticket": ticket, "login": login, "kind": kind, "amount": str(signed.quantize(Decimal("0.01"))),
                 "comment": comment, "external_id": external_id, "time_ms": s.engine.clock()}
    s.sim.store.set_meta(f"op:{external_id}", operation)
    s.sim.store.set_meta(f"deal-op:{ticket}", external_id)
    if s.sim.faults.drop_next_balance:
        s.sim.faults.drop_next_balance = False
        s.engine.commit()  # applied and durable; only the answer is lost
        for _ in range(600):
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return Response(b"", status_code=504)
    return _json({"operation": operation, "replayed": False})


async def find_balance(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    operation = s.sim.store.get_meta(f"op:{request.path_params['external_id']}")
    if operation is None:
        raise ContractError(404, "OPERATION_NOT_FOUND")
    return _json({"operation": operation})


async def deals(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    after = _cursor(request)
    limit = _int_param(request, "limit", 500)
    if not 1 <= limit <= PAGE_MAX:
        raise ContractError(400, "INVALID_REQUEST", f"limit: 1 to {PAGE_MAX}")
    store, faults = s.sim.store, s.sim.faults
    rows = store.deals_after(*after, limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    page = [s.deal_json(r) for r in rows]
    last = (page[-1]["time_ms"], page[-1]["deal"]) if page else after
    if after != (0, 0) and faults.take_repeat():
        page = [*(s.deal_json(r) for r in store.deal_rows([after[1]])), *page]  # the row at the cursor again
    if faults.shuffle_deal_pages > 0 and len(page) > 1:
        faults.shuffle_deal_pages -= 1
        page.reverse()
    return _json({"deals": page, "next": {"time_ms": last[0], "deal": last[1]}, "has_more": has_more})


async def deal_count(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    return _json({"count": s.sim.store.deal_total(None, _int_param(request, "from_ms"), _int_param(request, "to_ms"))})


async def deal_stream(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    cursor = _cursor(request)
    faults = s.sim.faults
    faults.drop_streams = False  # a cut applies to the streams open when it was asked for

    async def events() -> AsyncIterator[bytes]:
        nonlocal cursor
        quiet_since = time.monotonic()
        yield b": open\n\n"
        while not faults.drop_streams:
            rows = s.sim.store.deals_after(*cursor, 500)
            for raw in rows:
                deal = s.deal_json(raw)
                cursor = (deal["time_ms"], deal["deal"])
                yield b"event: deal\nid: %d:%d\ndata: %s\n\n" % (cursor[0], cursor[1], orjson.dumps(deal))
            if rows:
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since > HEARTBEAT_S:
                quiet_since = time.monotonic()
                yield b": ping\n\n"
            await asyncio.sleep(STREAM_POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def positions(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    raw = request.query_params.get("logins", "")
    chosen = {int(x) for x in raw.split(",") if x} if raw else None
    engine = s.engine
    result = []
    for _, p in sorted(engine.positions.items()):
        if chosen is not None and p.login not in chosen:
            continue
        bid, ask = engine.feed.bid_ask(p.symbol)
        result.append({
            "ticket": p.position, "login": p.login, "symbol": p.symbol, "side": "buy" if p.action == 0 else "sell",
            "volume": str(p.lots), "open_price": str(p.price_open), "current_price": str(bid if p.action == 0 else ask),
            "profit": str(engine.position_profit(p)), "swap": str(p.storage),
            "contract_size": str(INSTRUMENTS[p.symbol].contract_size), "open_time_ms": p.time_create_msc,
            "update_time_ms": p.time_update_msc, "comment": p.comment,
        })  # fmt: skip
    return _json({"positions": result})


async def groups(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    return _json({"groups": [{
        "name": g.name, "currency": g.currency, "currency_digits": 2, "margin_call": str(g.margin_call),
        "margin_stop_out": str(g.stop_out), "default_leverage": g.leverage,
        "commission_per_lot": str(g.commission_per_lot) if g.commission_per_lot else None,
    } for g in GROUPS.values()]})  # fmt: skip


async def symbols(s: Sidecar, request: Request, data: dict[str, Any]) -> Response:
    return _json({"symbols": [{
        "symbol": i.symbol, "path": i.path, "digits": i.digits, "contract_size": str(i.contract_size),
        "base_currency": i.base, "profit_currency": i.profit, "margin_currency": i.base,
        "point": str(Decimal(1).scaleb(-i.digits)),
    } for i in INSTRUMENTS.values()]})  # fmt: skip


_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("/v1/ping", "GET", ping),
    ("/v1/accounts", "POST", create_account),
    ("/v1/accounts/{login:int}", "GET", get_account),
    ("/v1/accounts/{login:int}", "PATCH", update_account),
    ("/v1/accounts/{login:int}/state", "GET", account_state),
    ("/v1/balance", "POST", balance),
    ("/v1/balance/{external_id}", "GET", find_balance),
    ("/v1/deals", "GET", deals),
    ("/v1/deals/count", "GET", deal_count),
    ("/v1/deals/stream", "GET", deal_stream),
    ("/v1/positions", "GET", positions),
    ("/v1/groups", "GET", groups),
    ("/v1/symbols", "GET", symbols),
)


def routes(sim: Simulator) -> list[Route]:
    sidecar = Sidecar(sim)

    def bind(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return await sidecar.handle(request, handler)

        return endpoint

    return [Route(path, bind(handler), methods=[method]) for path, method, handler in _ROUTES]
