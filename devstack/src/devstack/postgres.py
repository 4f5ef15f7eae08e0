"""A PostgreSQL server of the embedded stack: initdb once, start, stop, create databases."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import asyncpg
import structlog

from devstack import pgbin
from devstack.aio import run_sync
from devstack.errors import StackError
from devstack.ports import HOST, ensure_free

log = structlog.get_logger("devstack.postgres")

_CONF_NAME = "devstack.conf"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes, and ".s.PGSQL.NNNNN" is appended


class Postgres:
    """One PostgreSQL server listening on 127.0.0.1 only, trust auth, user ``postgres``.

    The cluster lives in ``<root>/data`` (``PGDATA``) and logs to ``<root>/server.log``.
    An initialised cluster is reused, so a restart takes a fraction of a second.

    Args:
        root: Directory of this server's files; created if missing.
        port: TCP port on 127.0.0.1.
    """

    def __init__(self, root: Path, port: int) -> None:
        self.root = Path(root).absolute()
        self.port = port
        self.host = HOST
        self.user = "postgres"
        self._bin: pgbin.PgBinaries | None = None

    @property
    def pgdata(self) -> Path:
        """The cluster directory."""
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.root / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the cluster if needed and start the server; return once it accepts.

        Raises:
            StackError: The port is taken, the binaries are missing, or the server failed.
        """
        began = time.monotonic()
        self._bin = pgbin.find_binaries()
        self._prepare_root()
        if self._running():
            log.warning("postgres.stale_server", pgdata=str(self.pgdata))
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "10")
        ensure_free(self.port, "PostgreSQL")
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._check_version()
        self._write_conf()
        done = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file), check=False)
        if done.returncode != 0:
            raise StackError(
                f"PostgreSQL failed to start on port {self.port}: {done.stdout}{done.stderr}\n"
                f"--- {self.log_file} ---\n{self._log_tail()}"
            )
        log.info(
            "postgres.started",
            port=self.port,
            version=self._bin.major,
            pgdata=str(self.pgdata),
            seconds=round(time.monotonic() - began, 2),
        )

    @property
    def pid(self) -> int | None:
        """The postmaster's process id, from ``postmaster.pid``, if that file is there."""
        try:
            first = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    def alive(self) -> bool:
        """Whether the postmaster runs (a killed one leaves its pid file behind)."""
        pid = self.pid
        if pid is None:
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        # "pid (comm) state ...": a zombie or a reused pid of another program is not ours
        comm, _, rest = stat.partition(") ")
        return rest[:1] not in ("Z", "X") and comm.endswith("(postgres")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (fast shutdown, immediate if that does not finish in time)."""
        if not (self.pgdata / "postmaster.pid").exists():
            return
        if self._bin is None:
            self._bin = pgbin.find_binaries(install=False)
        if not self._running():
            return
        secs = str(max(1, int(timeout)))
        done = self._pg_ctl("stop", "-m", "fast", "-w", "-t", secs, check=False)
        if done.returncode != 0 and self._running():
            log.warning("postgres.immediate_stop", output=done.stdout + done.stderr)
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "5", check=False)
        log.info("postgres.stopped", port=self.port)

    def ensure_databases(self, names: Iterable[str]) -> None:
        """Create each database in ``names`` that does not exist yet."""
        run_sync(self._ensure_databases(list(names)))

    async def _ensure_databases(self, names: list[str]) -> None:
        conn = await asyncpg.connect(self.dsn("postgres"), timeout=10)
        try:
            for name in names:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    quoted = '"' + name.replace('"', '""') + '"'
                    await conn.execute(f"CREATE DATABASE {quoted}")
                    log.info("postgres.database_created", database=name)
        finally:
            await conn.close()

    def _prepare_root(self) -> None:
        if pgbin.is_root():
            self.root.mkdir(parents=True, exist_ok=True)
            if not pgbin.pg_user_can_enter(self.root.parent):
                fallback = (
                    Path("/var/lib/devstack")
                    / hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
                )
                log.warning(
                    "postgres.data_dir_unreachable",
                    wanted=str(self.root),
                    using=str(fallback),
                    reason=f"user {pgbin.PG_USER} cannot enter {self.root.parent}",
                )
                with contextlib.suppress(OSError):
                    self.root.rmdir()  # only if empty: never delete a cluster
                self.root = fallback
                self.root.mkdir(parents=True, exist_ok=True)
            user = pgbin.ensure_pg_user()
            for path in (self.root, *self.root.rglob("*")):
                os.lchown(path, user.pw_uid, user.pw_gid)
            self.root.chmod(0o700)
        else:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _initdb(self) -> None:
        assert self._bin is not None
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted initdb
        base = [
            self._bin.tool("initdb"),
            "-D",
            str(self.pgdata),
            "--auth=trust",
            f"--username={self.user}",
            "-E",
            "UTF8",
            "--no-instructions",
        ]
        done = self._run([*base, "--locale=C.UTF-8"])
        if done.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            done = self._run([*base, "--no-locale"])
        if done.returncode != 0:
            raise StackError(f"initdb failed:\n{done.stdout}{done.stderr}")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONF_NAME}'\n")
        log.info("postgres.initialised", pgdata=str(self.pgdata))

    def _check_version(self) -> None:
        assert self._bin is not None
        have = (self.pgdata / "PG_VERSION").read_text().strip()
        if have != str(self._bin.major):
            raise StackError(
                f"{self.pgdata} was made by PostgreSQL {have} but the binaries are "
                f"{self._bin.major}; delete that directory to start afresh"
            )

    def _write_conf(self) -> None:
        socket_dir = str(self.pgdata) if len(str(self.pgdata)) < _SOCKET_PATH_MAX else ""
        conf = self.pgdata / _CONF_NAME
        conf.write_text(
            "# Written by devstack on every start; edits are overwritten.\n"
            f"listen_addresses = '{self.host}'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{socket_dir}'\n"
            "max_connections = 300\n"
            # the outboxes are queues: their dead rows are vacuumed within seconds
            "autovacuum_naptime = 5s\n"
            "logging_collector = off\n"
        )
        if pgbin.is_root():
            user = pgbin.ensure_pg_user()
            os.chown(conf, user.pw_uid, user.pw_gid)

    def _running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        done = self._run([self._bin.tool("pg_ctl"), "-D", str(self.pgdata), *args])
        if check and done.returncode != 0:
            raise StackError(f"pg_ctl {args[0]} failed:\n{done.stdout}{done.stderr}")
        return done

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.run(  # noqa: S603 - argv built here
            pgbin.as_pg_user(argv),
            env=env,
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,  # Ctrl-C reaches the runner only; it stops the server
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
