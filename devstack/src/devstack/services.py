"""The platform's service processes: which there are, their ports, and one running child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from devstack.ports import HOST
from devstack.procs import child_preexec, stop_all

log = structlog.get_logger("devstack.services")

BACKENDS: tuple[str, ...] = ("accounts", "consent", "listings", "messaging", "retention")
"""The services behind the gateway."""

SERVICES: tuple[str, ...] = (*BACKENDS, "gateway")
"""Every service, in start order (the gateway last: it fronts the others)."""

DEFAULT_PORTS: Mapping[str, int] = {
    "gateway": 8000,
    "accounts": 8101,
    "consent": 8102,
    "listings": 8103,
    "messaging": 8104,
    "retention": 8105,
}


def port_var(name: str) -> str:
    """The environment variable holding a service's HTTP port, e.g. ``ACCOUNTS_HTTP_PORT``."""
    return f"{name.upper()}_HTTP_PORT"


def url_var(name: str) -> str:
    """The variable the gateway reads a backend's base URL from, e.g. ``GATEWAY_ACCOUNTS_URL``."""
    return f"GATEWAY_{name.upper()}_URL"


def base_url(port: int) -> str:
    """The base URL of a service listening on ``port``."""
    return f"http://{HOST}:{port}"


def ports_from_env(env: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Each service's port: ``<NAME>_HTTP_PORT`` when set, the default otherwise."""
    return {name: int(env.get(port_var(name), DEFAULT_PORTS[name])) for name in SERVICES}


def services_env(ports: Mapping[str, int]) -> dict[str, str]:
    """The port variables of every service and the backend URLs the gateway needs."""
    env = {port_var(name): str(port) for name, port in ports.items()}
    env.update({url_var(name): base_url(ports[name]) for name in BACKENDS if name in ports})
    return env


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service.

    Attributes:
        name: The service (also its Python package).
        port: Its HTTP port.
        argv: The command; ``python -m <name>`` with the runner's interpreter by default.
    """

    name: str
    port: int
    argv: Sequence[str] = ()

    @property
    def command(self) -> list[str]:
        """The command line that starts the service."""
        return list(self.argv) if self.argv else [sys.executable, "-m", self.name]

    @property
    def url(self) -> str:
        """The service's base URL."""
        return base_url(self.port)


class ServiceProcess:
    """One service running as a child process of the runner.

    Args:
        spec: What to run.
        env: The complete environment of the child.
        log_file: Where its output goes; the runner's own stdout/stderr when ``None``.
    """

    def __init__(self, spec: ServiceSpec, env: Mapping[str, str], log_file: Path | None) -> None:
        self.spec = spec
        self.env = dict(env)
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def name(self) -> str:
        """The service's name."""
        return self.spec.name

    def start(self) -> None:
        """Start the child (its output appended to ``log_file`` if one was given)."""
        out: IO[bytes] | None = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_file.open("ab")
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - argv built here
                self.spec.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                start_new_session=True,  # Ctrl-C reaches the runner, which stops us in order
                preexec_fn=child_preexec(),
            )
        finally:
            if out is not None:
                out.close()
        self.started_at = time.monotonic()
        log.info("service.started", service=self.name, port=self.spec.port, pid=self.proc.pid)

    def exit_code(self) -> int | None:
        """The exit code if the child has exited, ``None`` while it runs (or never ran)."""
        return self.proc.poll() if self.proc is not None else None

    def running(self) -> bool:
        """Whether the child is running."""
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the child, if it runs."""
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)
            log.info("service.signalled", service=self.name, signal=signal.Signals(sig).name)

    def stop(self, grace: float = 8.0) -> int | None:
        """SIGTERM the child, SIGKILL it after ``grace`` seconds; returns its exit code."""
        if self.proc is None:
            return None
        (code,) = stop_all([self.proc], grace)
        return code

    def log_tail(self, lines: int = 40) -> str:
        """The end of the child's log file, when it has one."""
        if self.log_file is None:
            return ""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
