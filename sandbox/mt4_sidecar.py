"""The MT4 Manager-API sidecar stand-in: `python -m sandbox.mt4_sidecar --host 127.0.0.1 --port N`.

Speaks the sidecar contract (docs/platforms/mt4-sidecar.md) with the trading simulator's engine and traders
behind it (sandbox/simulator/mt4_sidecar.py), plus the simulator's /sim controls. From the environment:
MT4_SIDECAR_SECRET (the HMAC secret: the password of the trading server configured in the CRM),
MT4_SIDECAR_LOGIN (the manager login, default 1000), MT4_SIDECAR_DATA_DIR (its state), MT4_SIDECAR_RATE
(deals per second of a live clock; 0, the default, is a manual clock driven through /sim/tick),
MT4_SIDECAR_SEED and MT4_SIDECAR_START_MS (a fixed simulated start for a fresh data folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from sandbox.serving import env
from sandbox.simulator.app import SimConfig, create_app
from sandbox.simulator.mt4_sidecar import routes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.mt4_sidecar", description="The MT4 sidecar stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    start = env("MT4_SIDECAR_START_MS", "")
    config = SimConfig(
        data_dir=Path(env("MT4_SIDECAR_DATA_DIR", ".data/mt4-sidecar")),
        manager_login=int(env("MT4_SIDECAR_LOGIN", "1000")),
        manager_password=env("MT4_SIDECAR_SECRET"),
        seed=int(env("MT4_SIDECAR_SEED", "1")),
        rate=float(env("MT4_SIDECAR_RATE", "0")),
        start_ms=int(start) if start else None,
    )
    uvicorn.run(create_app(config, routes), host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=60, timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
