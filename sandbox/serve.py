"""What every stand-in's `python -m sandbox.<name> --host H --port N` shares: the arguments, its
secrets from the environment (never argv), and uvicorn with the access log off.

A stand-in module ends with

    if __name__ == "__main__":
        serve_main("psp", lambda base_url: StandIn(..., secret=env("SANDBOX_PSP_SECRET")).app())

`forexcrm run` (sandbox/launcher.py) starts it and calls it ready once the port accepts connections.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(name: str, default: str | None = None) -> str:
    """A setting of the stand-in from its environment; a missing required one stops it, naming it."""
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"${name} is required")
    return value


def serve_main(name: str, build: Callable[[str], Any], argv: list[str] | None = None) -> None:
    """Parse --host/--port, build the ASGI app (given the stand-in's own base URL) and serve it."""
    import uvicorn

    parser = argparse.ArgumentParser(prog=f"python -m sandbox.{name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = build(f"http://{args.host}:{args.port}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                lifespan="off", timeout_graceful_shutdown=3)
