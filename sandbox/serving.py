"""The one way a stand-in runs: in this process on a loopback port (tests: `serving`), or as its own
process (`python -m sandbox.<name> --host 127.0.0.1 --port N`: `serve_main`), its secrets from the
environment (`env`), never argv.

A stand-in module ends with

    def main(argv: list[str] | None = None) -> None:
        serve_main("stripe", lambda base_url: StripeStandIn(env("STRIPE_API_KEY"), ..., base_url=base_url).app(),
                   argv)

    if __name__ == "__main__":
        main()

`forexcrm run` (sandbox/launcher.py) starts it and calls it ready once the port accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports free now (for a table of stand-ins at
    base + offset). Drawn below the kernel's ephemeral range, which hands out `free_port()`s and
    client sockets, so the block is not taken a moment later by one of those."""
    import random

    for _ in range(200):
        base = random.randint(20_000, 32_000 - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def env(name: str, default: str | None = None) -> str:
    """A setting of the stand-in from its environment; a missing required one stops it, naming it."""
    value = os.environ.get(name) or default
    if value is None:
        raise SystemExit(f"${name} is required")
    return value


@contextlib.asynccontextmanager
async def serving(app: Any, port: int | None = None, host: str = "127.0.0.1", *,
                  lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """Any ASGI app under uvicorn in this event loop (a free loopback port unless given); yields its
    base URL once it accepts connections."""
    port = free_port() if port is None else port
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, lifespan=lifespan,
                                           access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


def serve_main(name: str, build: Callable[[str], Any], argv: list[str] | None = None) -> None:
    """Parse --host/--port, build the ASGI app (given the stand-in's own base URL) and serve it with
    the access log off."""
    parser = argparse.ArgumentParser(prog=f"python -m sandbox.{name}", description=f"The {name} stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = build(f"http://{args.host}:{args.port}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                lifespan="off", timeout_graceful_shutdown=3)
