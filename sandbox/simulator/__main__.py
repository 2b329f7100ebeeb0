"""Entry point: python -m sandbox.simulator --port N --data-dir DIR [--seed S] [--rate R]
--manager-login L --manager-password P   (or the password in $SIM_MANAGER_PASSWORD)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from sandbox.simulator.app import SimConfig, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="deals/s of the live clock; 0 = manual /sim/tick"
    )
    parser.add_argument("--manager-login", type=int, required=True)
    parser.add_argument("--manager-password", default=os.environ.get("SIM_MANAGER_PASSWORD"))
    parser.add_argument("--populate-groups", type=int, default=1, help="default population when live")
    parser.add_argument("--start-ms", type=int, default=None,
                        help="simulated time of a fresh data dir (default: now); a fixed start makes a seeded "
                             "manual-clock run identical whenever it runs")
    args = parser.parse_args(argv)
    if not args.manager_password:
        parser.error("--manager-password or $SIM_MANAGER_PASSWORD is required")
    config = SimConfig(
        data_dir=args.data_dir,
        manager_login=args.manager_login,
        manager_password=args.manager_password,
        seed=args.seed,
        rate=args.rate,
        populate_groups=args.populate_groups,
        start_ms=args.start_ms,
    )
    # A long keep-alive: the MT5 session lives as long as the TCP connection.
    uvicorn.run(
        create_app(config), host=args.host, port=args.port, log_level="warning", access_log=False,
        timeout_keep_alive=600, timeout_graceful_shutdown=3,
    )  # fmt: skip


if __name__ == "__main__":
    main()
