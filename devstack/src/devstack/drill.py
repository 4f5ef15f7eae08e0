"""Fault drills: ``python -m devstack run`` in a child process, its parts killed on purpose.

Used by the self-healing tests and the recovery benchmark (and the chaos soak later):
the run is the very command ``make run`` executes, on free ports in its own data
directory, so what is measured is what a user gets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from devstack import secrets
from devstack.errors import StackError
from devstack.pgbin import is_root
from devstack.ports import stack_ports
from devstack.services import SERVICES, base_url, port_var

INFRA_PARTS = ("postgres", "broker")


class StackRun:
    """One embedded stack run as a child process, for fault drills.

    Args:
        data_dir: Its data directory; a fresh temporary one when omitted (removed on stop).
    """

    def __init__(self, data_dir: Path | None = None) -> None:
        self._own_dir = data_dir is None
        if data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix="devstack-drill-"))
            data_dir.chmod(0o711 if is_root() else 0o700)
        self.data_dir = data_dir
        self.pg_port, self.kafka_port, self.ports = stack_ports(SERVICES)
        self.output = data_dir / "run.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_readiness = ""

    @property
    def gateway_url(self) -> str:
        """The gateway's base URL."""
        return base_url(self.ports["gateway"])

    def service_url(self, name: str) -> str:
        """A service's base URL."""
        return base_url(self.ports[name])

    @property
    def kafka_bootstrap(self) -> str:
        """The broker's bootstrap address."""
        return f"127.0.0.1:{self.kafka_port}"

    def dsn(self, database: str) -> str:
        """A connection string for one of the run's databases (as the superuser)."""
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"

    def start(self, timeout: float = 240.0) -> float:
        """Start the run and wait for ``/readyz`` 200; returns the seconds it took.

        Raises:
            StackError: The run exited or was not ready in time (its output quoted).
        """
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MARKET_", "GATEWAY_")) and not k.endswith("_HTTP_PORT")}
        env.update({port_var(name): str(port) for name, port in self.ports.items()})
        env.update({"MARKET_PG_PORT": str(self.pg_port), "MARKET_LOG_JSON": "true",
                    "MARKET_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.kafka_port}"})
        began = time.monotonic()
        with self.output.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - argv built here
                [sys.executable, "-m", "devstack", "run", "--data-dir", str(self.data_dir)],
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        self.wait_ready(timeout)
        return time.monotonic() - began

    def ready(self) -> bool:
        """Whether the gateway's ``/readyz`` answers 200 right now."""
        try:
            answer = httpx.get(f"{self.gateway_url}/readyz", timeout=2)
        except httpx.HTTPError as exc:
            self.last_readiness = type(exc).__name__
            return False
        self.last_readiness = answer.text
        return answer.status_code == 200

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Wait for ``/readyz`` 200; returns the seconds waited.

        Raises:
            StackError: The run exited or the time ran out.
        """
        began = time.monotonic()
        while not self.ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise StackError(f"the run exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() - began > timeout:
                raise StackError(f"/readyz not 200 within {timeout:.0f} s: "
                                 f"{self.last_readiness[:1500]}\n{self.tail()}")
            time.sleep(0.1)
        return time.monotonic() - began

    def wait_unready(self, timeout: float = 30.0) -> None:
        """Wait until ``/readyz`` stops answering 200 (the fault was noticed)."""
        deadline = time.monotonic() + timeout
        while self.ready():
            if time.monotonic() > deadline:
                raise StackError(f"/readyz stayed 200 for {timeout:.0f} s after the fault")
            time.sleep(0.05)

    def pids(self) -> dict[str, int | None]:
        """The process id of every part, as the run keeps them in ``run/pids.json``."""
        pids: dict[str, int | None] = json.loads(
            (self.data_dir / "run" / "pids.json").read_text())
        return pids

    def kill(self, part: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` (SIGKILL by default) to one part; returns the pid signalled."""
        pid = self.pids()[part]
        if pid is None:
            raise StackError(f"{part} has no process id")
        os.kill(pid, sig)
        return pid

    def lines_since(self, offset: int) -> list[str]:
        """The run's output lines written after byte ``offset`` of :attr:`output`."""
        with self.output.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()

    def output_size(self) -> int:
        """The size of the run's output so far (an offset for :meth:`lines_since`)."""
        return self.output.stat().st_size

    def internal_key(self) -> bytes:
        """The key the run's gateway signs internal calls with."""
        import base64

        values = secrets.load_or_create(self.data_dir)
        return base64.b64decode(values["MARKET_SECRETS_INTERNAL_KEY"])

    def retention_knows(self, account_id: str) -> bool:
        """Whether the retention service has registered the subject (through Kafka)."""
        from kernel.internal_auth import CallSigner, SignedCalls

        try:
            resp = httpx.get(f"{self.service_url('retention')}/internal/subjects/{account_id}",
                             auth=SignedCalls("retention", CallSigner(self.internal_key())),
                             timeout=2)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and "accounts" in resp.text

    def tail(self, lines: int = 40) -> str:
        """The end of the run's output."""
        try:
            return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM the run (it stops every part) and remove a temporary data directory."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=10)
        if self._own_dir and os.environ.get("DEVSTACK_KEEP") != "1":
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code
