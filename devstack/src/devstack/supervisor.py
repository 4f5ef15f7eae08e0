"""The whole embedded stack: PostgreSQL, Kafka, topics, secrets and the six services."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import structlog

from contracts.topics import TOPICS
from devstack import secrets
from devstack.backup import journal_path
from devstack.broker import Kafka
from devstack.errors import StackError
from devstack.healing import Healer, Part
from devstack.pgbin import is_root
from devstack.ports import HOST, ensure_free, is_listening
from devstack.postgres import Postgres
from devstack.procs import reap_orphans, stop_all
from devstack.services import SERVICES, ServiceProcess, ServiceSpec, base_url, services_env
from devstack.topics import create_topics

log = structlog.get_logger("devstack")

DATABASES = ("marketplace", "keystore")
"""The platform database (a schema per service) and the key store's own database."""


class Stack:
    """Starts and stops the embedded stack; used by ``python -m devstack`` and by pytest.

    Args:
        data_dir: Directory for PostgreSQL's cluster, Kafka's log, secrets and logs; created
            if missing.
        pg_port: PostgreSQL's port on 127.0.0.1.
        kafka_port: The broker's port on 127.0.0.1.
        service_ports: The HTTP port of each service (every name in ``SERVICES``).
        commands: Optional command lines replacing ``python -m <name>`` per service.
        log_dir: Where each service's output goes (``<name>.log``); when ``None`` the
            services write to the runner's own stdout/stderr.
    """

    def __init__(
        self,
        data_dir: Path,
        pg_port: int,
        kafka_port: int,
        service_ports: Mapping[str, int],
        commands: Mapping[str, Sequence[str]] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pg_port = pg_port
        self.kafka_port = kafka_port
        self.service_ports = dict(service_ports)
        missing = set(SERVICES) - set(self.service_ports)
        if missing:
            raise ValueError(f"no port for {sorted(missing)}")
        self.commands = dict(commands or {})
        self.log_dir = log_dir
        self.postgres = Postgres(self.data_dir / "pg", pg_port)
        self.broker = Kafka(kafka_port, self.data_dir / "kafka",
                            self.data_dir / "logs" / "kafka.log")
        self.infra_env: dict[str, str] = {}
        self.services: dict[str, ServiceProcess] = {}

    @property
    def kafka_bootstrap(self) -> str:
        """The broker's bootstrap address."""
        return f"{HOST}:{self.kafka_port}"

    @property
    def gateway_url(self) -> str:
        """The gateway's base URL."""
        return base_url(self.service_ports["gateway"])

    @property
    def service_urls(self) -> dict[str, str]:
        """Every service's base URL by name."""
        return {name: base_url(port) for name, port in self.service_ports.items()}

    @property
    def env(self) -> dict[str, str]:
        """Everything the services are given on top of the runner's environment."""
        return {**self.infra_env, **services_env(self.service_ports), "PYTHONUNBUFFERED": "1"}

    def check_ports(self) -> None:
        """Fail fast if the broker's or a service's port is taken.

        PostgreSQL's port is checked when it starts, after a server left running on
        this data directory by a killed runner has been stopped.

        Raises:
            StackError: A port is in use.
        """
        ensure_free(self.kafka_port, "the Kafka broker")
        for name, port in self.service_ports.items():
            ensure_free(port, f"the {name} service")

    def start_infra(self) -> dict[str, str]:
        """Start PostgreSQL and Kafka, create databases and topics, load the secrets.

        Returns:
            The ``MARKET_*`` environment describing the infrastructure.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The server's user must be able to pass through; secrets.env stays 0600.
        self.data_dir.chmod(0o711 if is_root() else 0o700)
        had_data = (self.data_dir / "pg" / "data" / "PG_VERSION").exists()
        had_secrets = (self.data_dir / secrets.FILE_NAME).exists()
        keys = secrets.load_or_create(self.data_dir)
        if had_data and not had_secrets:
            log.warning(
                "secrets.regenerated",
                reason="secrets.env was missing but PostgreSQL data "
                "exists; encrypted fields stored before are unreadable",
            )
        self.postgres.start()
        self.postgres.ensure_databases(DATABASES)
        self.broker.start()
        create_topics(self.kafka_bootstrap, TOPICS)
        self.infra_env = {
            "MARKET_PG_HOST": HOST,
            "MARKET_PG_PORT": str(self.pg_port),
            "MARKET_PG_USER": "postgres",
            "MARKET_PG_DATABASE": DATABASES[0],
            "MARKET_PG_KEYSTORE_DATABASE": DATABASES[1],
            "MARKET_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "MARKET_DATA_DIR": str(self.data_dir),
            "MARKET_ERASURE_JOURNAL": str(journal_path(self.data_dir)),
            # read again by a service meeting a master-key version it lacks (rotation)
            "MARKET_SECRETS_FILE": str(self.data_dir.absolute() / secrets.FILE_NAME),
            "MARKET_KAFKA_GROUP_PREFIX": "",  # the platform's own groups, whatever the caller's
            **keys,
        }
        return dict(self.infra_env)

    def start_services(self) -> None:
        """Start every service as its own child process (without waiting for readiness).

        Raises:
            StackError: The infrastructure is not started or a service port is taken.
        """
        if not self.infra_env:
            raise StackError("start_infra() must run before start_services()")
        for name in SERVICES:
            ensure_free(self.service_ports[name], f"the {name} service")
        env = {**os.environ, **self.env}
        for name in SERVICES:
            spec = ServiceSpec(name, self.service_ports[name], tuple(self.commands.get(name, ())))
            log_file = self.log_dir / f"{name}.log" if self.log_dir is not None else None
            self.services[name] = ServiceProcess(spec, env, log_file)
            self.services[name].start()

    def healer(self) -> Healer:
        """A :class:`Healer` restarting PostgreSQL, the broker and every started service."""
        parts = [
            Part("postgres", self.postgres.alive, self.postgres.start),
            Part("broker", self.broker.alive, self._restart_broker, self.broker.exit_code),
        ]
        parts += [Part(name, svc.running, svc.start, svc.exit_code)
                  for name, svc in self.services.items()]

        def reap() -> None:
            own = [self.broker.pid, *(s.proc.pid for s in self.services.values() if s.proc)]
            reap_orphans(pid for pid in own if pid is not None)

        return Healer(parts, on_restarted=lambda _: self.write_pids(), reap=reap)

    def _restart_broker(self) -> None:
        """Start the broker with its topics, or not at all: a broker left running without
        them would count as alive and never be restarted again. (Its log survives a crash;
        topics are only missing when its data was lost, and then the relays find no epoch
        marker and republish from the event stores.)"""
        self.broker.start()
        try:
            create_topics(self.kafka_bootstrap, TOPICS)
        except Exception:
            self.broker.stop(grace=0.5)
            raise

    @property
    def pids_file(self) -> Path:
        """``<data_dir>/run/pids.json``: the process id of every part, kept current."""
        return self.data_dir / "run" / "pids.json"

    def write_pids(self) -> None:
        """Write :attr:`pids_file` (for operators and the fault-injection tests)."""
        pids = {"postgres": self.postgres.pid, "broker": self.broker.pid,
                **{name: svc.proc.pid if svc.proc else None
                   for name, svc in self.services.items()}}
        self.pids_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=1) + "\n")
        tmp.replace(self.pids_file)

    def dead_services(self) -> dict[str, int]:
        """The services that have exited, with their exit codes."""
        return {
            name: code
            for name, svc in self.services.items()
            if (code := svc.exit_code()) is not None
        }

    def wait_ready(self, timeout: float = 240.0,
                   heal: Callable[[], None] | None = None) -> float:
        """Wait for the gateway's ``/readyz`` to answer 200.

        Args:
            timeout: Seconds to wait.
            heal: Called on every poll (the run's :meth:`Healer.tick`): a part killed while
                the start-up is still being confirmed is started again, not left dead with
                no healer yet. A service that exits by itself still fails the start at once.

        Returns:
            Seconds waited.

        Raises:
            StackError: A service exited meanwhile, or the time ran out.
        """
        began = time.monotonic()
        url = f"{self.gateway_url}/readyz"
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while True:
                if heal is not None:
                    heal()
                dead = {name: code for name, code in self.dead_services().items()
                        if heal is None or code != -signal.SIGKILL}
                if dead:
                    raise StackError(self._describe_dead(dead, " before the gateway was ready"))
                try:
                    answer = client.get(url)
                    if answer.status_code == 200:
                        return time.monotonic() - began
                    last = f"{answer.status_code} {answer.text[:500]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() - began > timeout:
                    tail = self.services["gateway"].log_tail() if "gateway" in self.services else ""
                    raise StackError(
                        f"GET {url} was not 200 within {timeout:.0f} s; last: {last}"
                        + (f"\n--- gateway log ---\n{tail}" if tail else "")
                    )
                time.sleep(0.25)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one service (SIGKILL by default) and wait if it is deadly."""
        svc = self.services[name]
        svc.send(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT) and svc.proc is not None:
            svc.proc.wait(timeout=15)

    def restart(self, name: str, wait_ready: bool = True, timeout: float = 120.0) -> None:
        """Stop one service if it runs, start it again, and by default wait for readiness."""
        svc = self.services[name]
        svc.stop()
        svc.start()
        if wait_ready:
            began = time.monotonic()
            self.wait_listening(name, timeout)
            self.wait_ready(timeout - (time.monotonic() - began))

    def wait_listening(self, name: str, timeout: float = 120.0) -> None:
        """Wait until service ``name`` accepts connections on its port.

        Raises:
            StackError: It exited meanwhile, or the time ran out.
        """
        svc = self.services[name]
        deadline = time.monotonic() + timeout
        while not is_listening(svc.spec.port):
            code = svc.exit_code()
            if code is not None:
                raise StackError(self._describe_dead({name: code}))
            if time.monotonic() > deadline:
                raise StackError(f"service {name!r} did not listen within {timeout:.0f} s")
            time.sleep(0.05)

    def stop_services(self, grace: float = 8.0) -> None:
        """SIGTERM every service at once, SIGKILL those still running after ``grace``."""
        procs = [svc.proc for svc in self.services.values() if svc.proc is not None]
        codes = stop_all(procs, grace)
        if procs:
            log.info("services.stopped", exit_codes=dict(zip(self.services, codes, strict=False)))

    def stop(self) -> None:
        """Stop the services, then Kafka, then PostgreSQL; safe to call more than once."""
        errors: list[str] = []
        for step in (self.stop_services, self.broker.stop, self.postgres.stop):
            try:
                step()
            except Exception as exc:  # keep stopping the rest; report at the end
                errors.append(f"{type(exc).__name__}: {exc}")
                log.error("stack.stop_failed", step=step.__name__, error=str(exc))
        if errors:
            raise StackError("; ".join(errors))

    def _describe_dead(self, dead: Mapping[str, int], when: str = "") -> str:
        parts = []
        for name, code in dead.items():
            parts.append(f"service {name!r} exited with code {code}{when}")
            tail = self.services[name].log_tail()
            if tail:
                parts.append(f"--- last lines of {self.services[name].log_file} ---\n{tail}")
        return "\n".join(parts)


def print_addresses(stack: Stack, seconds: float, services: bool = True) -> None:
    """Print where everything listens, once, for a person at the terminal."""
    lines = ["", "The embedded stack is ready" + f" (start-up took {seconds:.1f} s):"]
    if services:
        lines += [
            f"  gateway     {stack.gateway_url}",
            f"  ops         {stack.gateway_url}/ops",
            f"  readiness   {stack.gateway_url}/readyz",
        ]
    lines += [
        f"  PostgreSQL  {stack.postgres.dsn('marketplace')}"
        f"  (also: {stack.postgres.dsn('keystore')})",
        f"  Kafka       {stack.kafka_bootstrap}",
        f"  data        {stack.data_dir}  (secrets in {secrets.FILE_NAME})",
        "Press Ctrl-C to stop.",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
