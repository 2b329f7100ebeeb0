"""A real PostgreSQL streaming-replication pair for the read-replica tests: a small primary of its own
(initdb on a free loopback port, wal_level=replica) and a hot standby made from it with
`pg_basebackup -R` on another port. Its own cluster rather than the machine's: a base backup copies the
whole cluster, and the shared one keeps the bench databases (gigabytes). Run as the `postgres` OS user
when the tests run as root (initdb and postgres refuse root), which is how CI runs them (.ci/run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from sandbox.serving import free_port


def pg_bindir() -> Path | None:
    """Where initdb, pg_ctl and pg_basebackup are: FOREXCRM_PG_BINDIR, pg_config's, or Debian's 15."""
    candidates = [os.environ.get("FOREXCRM_PG_BINDIR", "")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates.append("/usr/lib/postgresql/15/bin")
    for c in candidates:
        if c and all((Path(c) / tool).exists() for tool in ("initdb", "pg_ctl", "pg_basebackup")):
            return Path(c)
    return None


def unusable_reason() -> str | None:
    if pg_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found; set FOREXCRM_PG_BINDIR"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a `postgres` OS user to run initdb and postgres as"
        if shutil.which("runuser") is None:
            return "running as root without runuser"
    return None


@dataclass
class StreamingPair:
    root: Path
    primary_port: int = field(default_factory=free_port)
    standby_port: int = field(default_factory=free_port)

    @property
    def primary_dir(self) -> Path:
        return self.root / "primary"

    @property
    def standby_dir(self) -> Path:
        return self.root / "standby"

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def _run(self, *cmd: str) -> None:
        bindir = pg_bindir()
        assert bindir is not None
        argv = [str(bindir / cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stdout}{done.stderr}")

    @classmethod
    def create(cls) -> StreamingPair:
        root = Path(tempfile.mkdtemp(prefix="forexcrm-replica-"))
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        pair = cls(root)
        pair._run("initdb", "-D", str(pair.primary_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        # initdb's trust pg_hba already lets 127.0.0.1 connect for replication
        with (pair.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {pair.primary_port}\n"
                       f"unix_socket_directories = '{root}'\nwal_level = replica\nmax_wal_senders = 5\n"
                       "fsync = off\nshared_buffers = 32MB\nmax_connections = 80\n"
                       "hot_standby_feedback = on\nwal_receiver_status_interval = 1s\n")
        pair.start(pair.primary_dir)
        return pair

    def start(self, datadir: Path) -> None:
        self._run("pg_ctl", "-D", str(datadir), "-l", str(datadir.parent / f"{datadir.name}.log"), "-w", "-t", "60",
                  "start")

    def stop(self, datadir: Path) -> None:
        self._run("pg_ctl", "-D", str(datadir), "-m", "fast", "-w", "-t", "60", "stop")

    def make_standby(self) -> None:
        """A base backup of the primary with `-R` (standby.signal and primary_conninfo), on its own port."""
        self._run("pg_basebackup", "-D", str(self.standby_dir), "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync")
        with (self.standby_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.standby_port}\n")
        self.start(self.standby_dir)

    def stop_standby(self) -> None:
        self.stop(self.standby_dir)

    def start_standby(self) -> None:
        self.start(self.standby_dir)

    def freeze_standby(self, frozen: bool) -> None:
        """SIGSTOP (or SIGCONT) the standby's postmaster and every process of it: a host that hangs, whose
        connections neither answer nor refuse."""
        postmaster = int((self.standby_dir / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False)
        pids = [postmaster, *(int(p) for p in children.stdout.split())]
        for pid in pids if frozen else reversed(pids):
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    async def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary had written when asked."""
        primary = await asyncpg.connect(self.url(self.primary_port))
        try:
            target = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        finally:
            await primary.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                standby = await asyncpg.connect(self.url(self.standby_port), timeout=2)
                try:
                    if await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
                        return
                finally:
                    await standby.close()
            except (OSError, asyncpg.PostgresError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby did not replay up to {target} in {timeout}s")
            await asyncio.sleep(0.05)

    async def on_standby(self, sql: str) -> object:
        conn = await asyncpg.connect(self.url(self.standby_port))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def replay(self, *, paused: bool) -> None:
        conn = await asyncpg.connect(self.url(self.standby_port))
        try:
            await conn.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")
        finally:
            await conn.close()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.freeze_standby(False)
        for d in (self.standby_dir, self.primary_dir):
            if (d / "postmaster.pid").exists():
                with contextlib.suppress(Exception):  # best effort: the directory goes anyway
                    self._run("pg_ctl", "-D", str(d), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
