"""graphql-http's audit of the GraphQL-over-HTTP spec (every MUST and SHOULD) against the live API.

The audit is the npm package's own (`serverAudits`), installed from the lock file with `npm ci` and run
by node against a real server: CI has node and npm, so this never skips.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from tests.conftest import LiveServer

AUDIT = Path(__file__).resolve().parent / "graphql_http_audit"


async def _run(*command: str, timeout: float) -> tuple[int, str]:
    # A subprocess of this event loop: the live server serves the audit from the same loop.
    process = await asyncio.create_subprocess_exec(*command, cwd=AUDIT, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    return await process.wait(), output.decode()


async def test_every_must_and_should_of_the_graphql_http_audit_passes(live_server: LiveServer) -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are required (apt-get install nodejs npm)"
    if not (AUDIT / "node_modules" / "graphql-http" / "package.json").exists():
        code, output = await _run(npm, "ci", "--no-audit", "--no-fund", timeout=300)
        assert code == 0, output
    code, output = await _run(node, "audit.mjs", live_server.graphql_url, timeout=120)
    results = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    failed = [r for r in results if r["status"] != "ok"]
    assert len(results) >= 20 and not failed, json.dumps(failed, indent=1) + output[-2000:]
    assert code == 0, output
