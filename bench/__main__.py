"""Benchmark runner: `python -m bench [SCENARIO ...] [--quick]` prints one JSON object per scenario.

Each scenario measures its anchor in the same run on the same machine and reports the ratio,
so results survive a noisy machine. Scenarios register themselves in bench.scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bench.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"scenarios to run (default: all): {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="short runs for CI smoke checks")
    args = parser.parse_args(argv)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    failed = False
    for name in names:
        started = time.perf_counter()
        try:
            result: dict[str, Any] = asyncio.run(SCENARIOS[name](quick=args.quick))
        except Exception as exc:  # report and go on with the other scenarios
            result = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
        result = {"scenario": name, **result, "wall_s": round(time.perf_counter() - started, 2)}
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
