"""Starlette app: the MT5 Web API subset under /api, simulator controls under /sim.

Sessions are bound to the TCP connection (client address and port), as on a real MT5 server:
a new connection must authenticate again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.simulator import mt5_codes as rc
from sandbox.simulator import mt5_json as js
from sandbox.simulator.engine import GROUPS, Engine, SimError
from sandbox.simulator.faults import Faults
from sandbox.simulator.market import INSTRUMENTS, next_news_ms
from sandbox.simulator.population import populate
from sandbox.simulator.store import Store
from sandbox.simulator.traders import attach, expected_deals_per_second, ground_truth

PAGE_MAX = 100
CLOCK_INTERVAL_S = 0.2


@dataclass(frozen=True, slots=True)
class SimConfig:
    data_dir: Path
    manager_login: int
    manager_password: str = field(repr=False)
    seed: int = 1
    rate: float = 0.0  # target deals per second of the live clock; 0 = manual clock (/sim/tick)
    populate_groups: int = 1  # default population when live and no trader is attached
    start_ms: int | None = None  # simulated time of a fresh data dir (None: now)


@dataclass(slots=True)
class Session:
    srv_rand: str = ""
    login: int = 0
    authenticated: bool = False


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.engine = Engine(self.store, seed=config.seed, live=config.rate > 0, start_ms=config.start_ms)
        self.faults = Faults()
        self.sessions: dict[tuple[str, int], Session] = {}
        self._pw_hash = _password_hash(config.manager_password)

    # -- MT5 API dispatch -----------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        if self.faults.unavailable > 0:
            self.faults.unavailable -= 1
            return Response("Service Unavailable", status_code=503)
        if self.faults.drop_sessions:
            self.sessions.clear()
            self.faults.drop_sessions = False
        command = request.path_params["command"].strip("/")
        key = _peer(request)
        if command == "auth/start":
            return self._auth_start(request, key)
        if command == "auth/answer":
            return self._auth_answer(request, key)
        session = self.sessions.get(key)
        if session is None or not session.authenticated:
            return _json({"retcode": rc.retcode(rc.PERMISSIONS)}, status=403)
        handler = _COMMANDS.get((request.method, command))
        if handler is None:
            return _json({"retcode": rc.retcode(rc.PARAMS)}, status=404)
        try:
            result = await handler(self, request)
        except SimError as exc:
            self.store.commit()
            return _json({"retcode": rc.retcode(exc.retcode)})
        except (KeyError, ValueError, InvalidOperation, orjson.JSONDecodeError):
            return _json({"retcode": rc.retcode(rc.PARAMS)})
        self.engine.commit()
        return result

    def _auth_start(self, request: Request, key: tuple[str, int]) -> Response:
        q = request.query_params
        if q.get("type", "").lower() != "manager" or not q.get("login", "").isdigit():
            return _json({"retcode": rc.retcode(rc.PARAMS)})
        session = Session(srv_rand=secrets.token_hex(16), login=int(q["login"]))
        self._prune_sessions()
        self.sessions[key] = session
        return _json({"retcode": rc.retcode(rc.OK), "version_access": "4330", "srv_rand": session.srv_rand})

    def _auth_answer(self, request: Request, key: tuple[str, int]) -> Response:
        q = request.query_params
        session = self.sessions.get(key)
        answer, cli_rand = q.get("srv_rand_answer", ""), q.get("cli_rand", "")
        if session is None or not session.srv_rand or not _is_hex(cli_rand):
            return _json({"retcode": rc.retcode(rc.PARAMS)})
        expected = _md5_hex(self._pw_hash, session.srv_rand)
        refused = self.faults.fail_auth > 0
        if refused:
            self.faults.fail_auth -= 1
        if (
            refused
            or session.login != self.config.manager_login
            or not hmac.compare_digest(expected, answer.lower())
        ):
            del self.sessions[key]
            return _json({"retcode": rc.retcode(rc.USR_INVALID_PASSWORD)})
        session.authenticated, session.srv_rand = True, ""
        return _json(
            {
                "retcode": rc.retcode(rc.OK),
                "cli_rand_answer": _md5_hex(self._pw_hash, cli_rand),
                "version_trade": "4330",
            }
        )

    def _prune_sessions(self) -> None:
        if len(self.sessions) > 10_000:
            for stale in list(self.sessions)[:5_000]:
                del self.sessions[stale]

    # -- live clock -----------------------------------------------------------------------------

    async def run_clock(self) -> None:
        engine = self.engine
        while True:
            await asyncio.sleep(CLOCK_INTERVAL_S)
            wall = int(time.time() * 1000)
            dt = wall - engine.c.now_ms
            if dt <= 0:
                continue
            expected = expected_deals_per_second(engine)
            activity = self.config.rate / expected if expected > 0 else 0.0
            engine.step(min(dt, 5_000), activity)
            engine.c.now_ms = max(engine.c.now_ms, wall)  # after downtime, do not replay the gap
            engine.commit()

    def close(self) -> None:
        self.engine.commit()
        self.store.close()


# -- /api handlers ------------------------------------------------------------------------------

Handler = Callable[[Simulator, Request], Awaitable[Response]]


async def _body(request: Request) -> dict[str, Any]:
    data = orjson.loads(await request.body() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("object expected")
    return data


def _ok(answer: Any) -> Response:
    return _json({"retcode": rc.retcode(rc.OK), "answer": answer})


def _login(request: Request) -> int:
    return int(request.query_params["login"])


async def user_add(sim: Simulator, request: Request) -> Response:
    return _ok(js.user(sim.engine.add_user(await _body(request))))


async def user_update(sim: Simulator, request: Request) -> Response:
    body = await _body(request)
    login = int(request.query_params.get("login") or body["Login"])
    return _ok(js.user(sim.engine.update_user(login, body)))


async def user_get(sim: Simulator, request: Request) -> Response:
    return _ok(js.user(sim.engine.account(_login(request))))


async def account_get(sim: Simulator, request: Request) -> Response:
    return _ok(js.account(sim.engine, sim.engine.account(_login(request))))


async def trade_balance(sim: Simulator, request: Request) -> Response:
    q = request.query_params
    ticket = sim.engine.balance_operation(
        _login(request),
        int(q["type"]),
        Decimal(q["balance"]),
        q.get("comment", ""),
        q.get("check_margin", "1") != "0",
    )
    if sim.faults.drop_next_balance:
        sim.faults.drop_next_balance = False
        sim.engine.commit()  # applied and durable; only the answer gets lost
        for _ in range(600):
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return Response(b"", status_code=504)
    return _json({"retcode": rc.retcode(rc.REQUEST_DONE), "answer": {"ticket": str(ticket)}})


def _logins(sim: Simulator, request: Request) -> list[int] | None:
    """Logins selected by `login` or by a group mask (MT5 style: "*", "real\\*", "a,b,!demo\\*")."""
    q = request.query_params
    if "login" in q:
        login = _login(request)
        sim.engine.account(login)
        return [login]
    mask = q.get("group", "")
    if not mask:
        raise SimError(rc.PARAMS)
    if mask == "*":
        return None
    include = [m for m in mask.split(",") if m and not m.startswith("!")]
    exclude = [m[1:] for m in mask.split(",") if m.startswith("!")]
    return [
        a.login
        for a in sim.engine.accounts.values()
        if any(fnmatch.fnmatchcase(a.group, m) for m in include)
        and not any(fnmatch.fnmatchcase(a.group, m) for m in exclude)
    ]


def _range_ms(request: Request) -> tuple[int, int]:
    q = request.query_params
    return int(q["from"]) * 1000, int(q["to"]) * 1000 + 999


def _paging(request: Request) -> tuple[int, int]:
    q = request.query_params
    offset, total = int(q.get("offset", "0")), int(q.get("total", str(PAGE_MAX)))
    if offset < 0 or not 1 <= total <= PAGE_MAX:
        raise SimError(rc.PARAMS)
    return offset, total


async def deal_total(sim: Simulator, request: Request) -> Response:
    return _ok({"total": str(sim.store.deal_total(_logins(sim, request), *_range_ms(request)))})


async def deal_page(sim: Simulator, request: Request) -> Response:
    offset, total = _paging(request)
    if offset > 0 and sim.faults.take_repeat():
        offset -= 1  # as when a deal lands ahead of the page between two reads: every row shifts by one
    rows = sim.faults.shuffled(sim.store.deal_page(_logins(sim, request), *_range_ms(request), offset, total))
    body = b'{"retcode":"0 Done","answer":[' + ",".join(rows).encode() + b"]}"
    if sim.faults.truncate_next_deal_page:
        sim.faults.truncate_next_deal_page = False
        body = body[: len(body) // 2]
    return Response(body, media_type="application/json")


async def history_total(sim: Simulator, request: Request) -> Response:
    return _ok({"total": str(sim.store.order_total(_logins(sim, request), *_range_ms(request)))})


async def history_page(sim: Simulator, request: Request) -> Response:
    """Ended orders (market requests filled, rejected or requoted; stop orders filled or cancelled) by
    setup time, as MT5 history/get_page."""
    rows = sim.store.order_page(_logins(sim, request), *_range_ms(request), *_paging(request))
    return Response(b'{"retcode":"0 Done","answer":[' + ",".join(rows).encode() + b"]}", media_type="application/json")


def _positions(sim: Simulator, request: Request) -> list[Any]:
    logins = _logins(sim, request)
    chosen = set(logins) if logins is not None else None
    return [p for _, p in sorted(sim.engine.positions.items()) if chosen is None or p.login in chosen]


async def position_total(sim: Simulator, request: Request) -> Response:
    return _ok({"total": str(len(_positions(sim, request)))})


async def position_page(sim: Simulator, request: Request) -> Response:
    offset, total = _paging(request)
    page = _positions(sim, request)[offset : offset + total]
    return _ok([js.position(sim.engine, p) for p in page])


def _indexed(items: list[Any], request: Request) -> Any:
    index = int(request.query_params["index"])
    if not 0 <= index < len(items):
        raise SimError(rc.NOTFOUND)
    return items[index]


async def group_total(sim: Simulator, request: Request) -> Response:
    return _ok({"total": str(len(GROUPS))})


async def group_next(sim: Simulator, request: Request) -> Response:
    return _ok(js.group(_indexed(js.groups(), request)))


async def group_get(sim: Simulator, request: Request) -> Response:
    g = GROUPS.get(request.query_params["group"])
    if g is None:
        raise SimError(rc.NOTFOUND)
    return _ok(js.group(g))


async def symbol_total(sim: Simulator, request: Request) -> Response:
    return _ok({"total": str(len(INSTRUMENTS))})


async def symbol_next(sim: Simulator, request: Request) -> Response:
    return _ok(js.symbol(_indexed(list(INSTRUMENTS.values()), request)))


async def symbol_get(sim: Simulator, request: Request) -> Response:
    inst = INSTRUMENTS.get(request.query_params["symbol"])
    if inst is None:
        raise SimError(rc.NOTFOUND)
    return _ok(js.symbol(inst))


async def test_access(sim: Simulator, request: Request) -> Response:
    return _json({"retcode": rc.retcode(rc.OK)})


_COMMANDS: dict[tuple[str, str], Handler] = {
    ("POST", "user/add"): user_add,
    ("POST", "user/update"): user_update,
    ("GET", "user/get"): user_get,
    ("GET", "user/account/get"): account_get,
    ("GET", "trade/balance"): trade_balance,
    ("GET", "deal/get_total"): deal_total,
    ("GET", "deal/get_page"): deal_page,
    ("GET", "history/get_total"): history_total,
    ("GET", "history/get_page"): history_page,
    ("GET", "position/get_total"): position_total,
    ("GET", "position/get_page"): position_page,
    ("GET", "group/total"): group_total,
    ("GET", "group/next"): group_next,
    ("GET", "group/get"): group_get,
    ("GET", "symbol/total"): symbol_total,
    ("GET", "symbol/next"): symbol_next,
    ("GET", "symbol/get"): symbol_get,
    ("GET", "test/access"): test_access,
}


# -- /sim admin handlers (not MT5) ----------------------------------------------------------------


async def sim_admin(sim: Simulator, request: Request) -> Response:
    action = request.path_params["action"]
    engine = sim.engine
    try:
        body = await _body(request) if request.method == "POST" else {}
        if action == "traders" and request.method == "POST":
            attach(engine, int(body["login"]), str(body["profile"]), _opt_int(body.get("partner")))
            result: Any = ground_truth(engine)
        elif action == "ground-truth":
            result = ground_truth(engine)
        elif action == "tick":
            q = request.query_params
            steps, step_ms = int(q.get("steps", "1")), int(q.get("step_ms", "1000"))
            activity = float(q.get("activity", "1"))
            before = engine.deals_created
            for _ in range(steps):
                engine.step(step_ms, activity)
            result = {"now_ms": engine.c.now_ms, "deals_created": engine.deals_created - before}
        elif action == "state":
            result = {
                "now_ms": engine.c.now_ms,
                "next_news_ms": next_news_ms(engine.c.now_ms),
                "accounts": len(engine.accounts),
                "positions": len(engine.positions),
                "next_deal": engine.c.next_deal,
                "faults": sim.faults.as_dict(),
            }
        elif action == "faults":
            sim.faults.update(body)
            result = sim.faults.as_dict()
        elif action == "trade":
            opened = [
                engine.open_position(
                    int(body["login"]), str(body["symbol"]), 0 if body.get("side", "buy") == "buy" else 1,
                    Decimal(str(body.get("lots", "0.1"))), reason=0, comment=str(body.get("comment", "")),
                ).position
                for _ in range(int(body.get("count", 1)))
            ]  # fmt: skip
            result = {"positions": opened}
        elif action == "close":
            result = {"deal": engine.close_position(int(body["position"]), reason=0)}
        elif action == "gap":  # deal ids the server skips (taken by deals the manager may not see)
            engine.c.next_deal += int(body.get("deals", 1))
            result = {"next_deal": engine.c.next_deal}
        elif action == "populate":
            result = {"logins": populate(engine, int(body.get("groups", 1)))}
        else:
            return _json({"error": f"unknown action {action}"}, status=404)
    except SimError as exc:
        engine.commit()
        return _json({"error": str(exc), "retcode": rc.retcode(exc.retcode)}, status=409)
    except (KeyError, ValueError, InvalidOperation) as exc:
        return _json({"error": f"bad request: {exc}"}, status=400)
    engine.commit()
    return _json(result)


def _opt_int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


# -- app ------------------------------------------------------------------------------------------


Protocol = Callable[[Simulator], list[Route]]


def mt5_routes(sim: Simulator) -> list[Route]:
    async def api(request: Request) -> Response:
        return await sim.api(request)

    return [Route("/api/{command:path}", api, methods=["GET", "POST"])]


def create_app(config: SimConfig, protocol: Protocol = mt5_routes) -> Starlette:
    """The simulated server speaking `protocol` (the MT5 Web API unless told; the MT4 sidecar's contract is
    sandbox.simulator.mt4_sidecar.routes) over one engine, with the /sim controls every protocol shares."""
    sim = Simulator(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        clock: asyncio.Task[None] | None = None
        if config.rate > 0:
            if not sim.engine.traders and config.populate_groups > 0:
                populate(sim.engine, config.populate_groups)
                sim.engine.commit()
            clock = asyncio.create_task(sim.run_clock())
        try:
            yield
        finally:
            if clock is not None:
                clock.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await clock
            sim.close()

    async def admin(request: Request) -> Response:
        return await sim_admin(sim, request)

    app = Starlette(
        routes=[*protocol(sim), Route("/sim/{action}", admin, methods=["GET", "POST"])],
        lifespan=lifespan,
    )
    app.state.simulator = sim
    return app


# -- helpers --------------------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _peer(request: Request) -> tuple[str, int]:
    client = request.client
    return (client.host, client.port) if client else ("", 0)


def _password_hash(password: str) -> bytes:
    inner = hashlib.md5(password.encode("utf-16-le"), usedforsecurity=False).digest()
    return hashlib.md5(inner + b"WebAPI", usedforsecurity=False).digest()


def _md5_hex(pw_hash: bytes, rand_hex: str) -> str:
    return hashlib.md5(pw_hash + bytes.fromhex(rand_hex), usedforsecurity=False).hexdigest()


def _is_hex(value: str) -> bool:
    try:
        return len(bytes.fromhex(value)) >= 16
    except ValueError:
        return False
