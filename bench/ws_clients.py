"""A subscriptions benchmark load generator: one process holding many WebSockets.

Started by bench/scenarios/subscriptions.py, several at a time, so the sockets' client side does not
share a process (or the GIL) with the server it measures. It reads commands on stdin and answers
one JSON line each on stdout:

    connect                -> {"connected": n, "retried": r}  open the sockets (graphql-transport-ws: init
                                                  with the socket's token, then subscribe to --query);
                                                  r: opened again after the server closed them first
    seen                   -> {"seen": n}        how many sockets have received anything yet
    collect COUNT TIMEOUT  -> {"arrivals": [[t, key, socket], ...]}  wait for COUNT messages (or
                                                  TIMEOUT s) since the last collect; t is time.monotonic()
                                                  (one clock for every process on the machine), key the
                                                  result's --key field (GraphQL) or the frame's
                                                  payload.data.*.id (anchor), socket its index here
    quit

    python -m bench.ws_clients --url ws://... --count N [--graphql --query Q --tokens FILE --first I] [--key F]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CONNECT_AT_ONCE = 100
RETRIES = 5


class Clients:
    def __init__(self, args: argparse.Namespace, tokens: list[str]) -> None:
        self.args = args
        self.tokens = tokens
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.seen: set[int] = set()
        self.arrivals: list[tuple[float, Any, int]] = []
        self.arrived = asyncio.Event()
        self.retried = 0  # sockets opened again after the server closed them before they subscribed

    async def connect(self) -> int:
        gate = asyncio.Semaphore(self.args.at_once)

        async def one(index: int, token: str | None) -> None:
            for attempt in range(RETRIES + 1):
                async with gate:
                    try:
                        ws = await self.open(token)
                        break
                    # 1013: the server could not check the token now; a handshake unanswered for a minute:
                    # a server (or machine) swamped by thousands of sockets opening at once
                    except (ConnectionClosed, TimeoutError) as exc:
                        if attempt == RETRIES:
                            raise
                        self.retried += 1
                        print(f"socket {index}: {exc or type(exc).__name__}; reconnecting", file=sys.stderr)
                await asyncio.sleep(0.5 * (attempt + 1))
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self.read(index, ws)))

        await asyncio.gather(*(one(i, self.tokens[i] if self.tokens else None) for i in range(self.args.count)))
        return len(self.sockets)

    async def open(self, token: str | None) -> ClientConnection:
        protocols: Any = ["graphql-transport-ws"] if self.args.graphql else None
        ws = await connect(self.args.url, subprotocols=protocols, compression=None, ping_interval=None,
                           max_size=2**20, open_timeout=60)
        if self.args.graphql:
            await ws.send(orjson.dumps({"type": "connection_init",
                                        "payload": {"authorization": f"Bearer {token}"}}).decode())
            ack = orjson.loads(await ws.recv())
            assert ack.get("type") == "connection_ack", ack
            await ws.send(orjson.dumps({"id": "1", "type": "subscribe",
                                        "payload": {"query": self.args.query}}).decode())
        return ws

    async def read(self, index: int, ws: ClientConnection) -> None:
        field = self.args.key
        async for message in ws:
            now = time.monotonic()
            self.seen.add(index)
            body = orjson.loads(message)
            if body.get("type") != "next":
                continue
            self.arrivals.append((now, next(iter(body["payload"]["data"].values()))[field], index))
            self.arrived.set()

    async def collect(self, count: int, timeout: float) -> list[tuple[float, Any, int]]:
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count and (left := deadline - time.monotonic()) > 0:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.5))
        got, self.arrivals = self.arrivals, []
        return got


async def serve(args: argparse.Namespace) -> None:
    tokens: list[str] = []
    if args.tokens:
        with open(args.tokens) as fh:
            tokens = fh.read().split()[args.first:args.first + args.count]
    clients = Clients(args, tokens)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        command = line[0]
        if command == "connect":
            answer: dict[str, Any] = {"connected": await clients.connect(), "retried": clients.retried}
        elif command == "seen":
            answer = {"seen": len(clients.seen)}
        elif command == "collect":
            answer = {"arrivals": await clients.collect(int(line[1]), float(line[2]))}
        else:
            break
        sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
        sys.stdout.flush()
    for task in clients.readers:
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_clients")
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--graphql", action="store_true", help="speak graphql-transport-ws and subscribe")
    parser.add_argument("--query", default="")
    parser.add_argument("--tokens", help="a file of access tokens, one a line; socket i uses line first+i")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--key", default="id", help="the result's field to report with each arrival")
    parser.add_argument("--at-once", type=int, default=CONNECT_AT_ONCE, help="sockets opening at a time")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
