"""The subscriptions benchmark's anchor: a bare Starlette WebSocket broadcast.

Sockets connect to /ws and are kept in a set; POST /broadcast sends the request body, as one text
frame, to every socket, one `send_text` after another: what any hand-written broadcast does, with
no GraphQL, no event hub and no session checks. Served by uvicorn with the API's own options
(`api.http_protocol.uvicorn_options`), so both sides run the same WebSocket implementation.

    python -m bench.ws_anchor --port N
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.http_protocol import uvicorn_options
from domain.shared.settings import Settings


def anchor_app() -> Starlette:
    sockets: set[WebSocket] = set()

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_bytes()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def broadcast(request: Request) -> Response:
        text = (await request.body()).decode()
        for websocket in tuple(sockets):
            await websocket.send_text(text)
        return PlainTextResponse(str(len(sockets)))

    async def ready(_: Request) -> Response:
        return PlainTextResponse(str(len(sockets)))

    return Starlette(routes=[WebSocketRoute("/ws", ws), Route("/broadcast", broadcast, methods=["POST"]),
                             Route("/ready", ready)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_anchor")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    options = uvicorn_options(Settings())
    config = uvicorn.Config(anchor_app(), host="127.0.0.1", port=args.port, **{**options, "lifespan": "off"})
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
