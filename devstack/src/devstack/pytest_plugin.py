"""pytest fixtures ``infra`` and ``platform``: the embedded stack for one test session."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devstack.pgbin import is_root
from devstack.ports import stack_ports

if TYPE_CHECKING:
    # Imported when a fixture is first used, so that loading the plugin (every pytest
    # run in the workspace) stays cheap and cannot fail on the platform's own modules.
    from devstack.supervisor import Stack


@dataclass
class Infra:
    """PostgreSQL and Kafka of this test session (topics and databases created).

    Attributes:
        stack: The stack runner, for anything the attributes below do not cover.
        env: The ``MARKET_*`` variables, also set in ``os.environ`` for the session.
        pg_port: PostgreSQL's port on 127.0.0.1.
        kafka_port: The broker's port on 127.0.0.1.
        kafka_bootstrap: ``127.0.0.1:<kafka_port>``.
        data_dir: The session's data directory (``MARKET_DATA_DIR``).
    """

    stack: Stack
    env: dict[str, str]
    pg_port: int
    kafka_port: int
    kafka_bootstrap: str
    data_dir: Path

    def pg_dsn(self, database: str = "marketplace") -> str:
        """A libpq URL for ``database`` (``marketplace`` or ``keystore``)."""
        return self.stack.postgres.dsn(database)


@dataclass
class Platform:
    """All six services running as processes against :class:`Infra`, gateway ready.

    Attributes:
        stack: The stack runner.
        env: Everything the services were given (infrastructure, ports, URLs).
        gateway_url: The gateway's base URL.
        service_urls: Each service's base URL by name.
    """

    stack: Stack
    env: dict[str, str]
    gateway_url: str
    service_urls: dict[str, str] = field(default_factory=dict)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to service ``name``; waits for it to exit if the signal is deadly."""
        self.stack.kill(name, sig)

    def restart(self, name: str, wait_ready: bool = True, timeout: float = 120.0) -> None:
        """Stop service ``name`` if it runs, start it again, wait for gateway readiness."""
        self.stack.restart(name, wait_ready=wait_ready, timeout=timeout)

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Wait until the gateway's ``/readyz`` answers 200; returns seconds waited."""
        return self.stack.wait_ready(timeout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last lines service ``name`` wrote."""
        return self.stack.services[name].log_tail(lines)


def _session_dir() -> Path:
    # Not pytest's tmp_path: that is 0700 under /tmp/pytest-of-<user>, which the server's
    # user cannot enter when tests run as root.
    path = Path(tempfile.mkdtemp(prefix="devstack-pytest-"))
    path.chmod(0o711 if is_root() else 0o700)
    return path


TEST_STACK = {
    # Tests pose as many clients from 127.0.0.1 with X-Forwarded-For (documentation
    # addresses), so that each throttle test (and the fuzzing) counts against its own.
    "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
    # Every test signs members up from one address; the limit's own test sets it low.
    "ACCOUNTS_SIGNUP_MAX_PER_ADDRESS": "100000",
}
"""Settings of the test session's stack (processes and in-process services) only."""

GROUP_PREFIX = "MARKET_KAFKA_GROUP_PREFIX"
"""Prefix of consumer group names (``kernel.settings.KafkaSettings.group_prefix``)."""


@pytest.fixture(scope="module", autouse=True)
def _fresh_consumer_groups() -> Iterator[None]:
    """Each test module's in-process services join consumer groups of their own.

    Otherwise a module's services would resume from the offsets an earlier module's
    services committed, and what they build would depend on which modules ran before. A
    fresh group reads its topics from the beginning, as a service deployed afresh does;
    consumers are idempotent, so that only costs the read.
    """
    before = os.environ.get(GROUP_PREFIX)
    if before is None or not before.startswith("test-"):
        yield  # not under the session's infra (or a platform's own prefix): leave it
        return
    os.environ[GROUP_PREFIX] = f"test-{uuid.uuid4().hex[:8]}."
    try:
        yield
    finally:
        os.environ[GROUP_PREFIX] = before


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """PostgreSQL and Kafka on free ports in a temporary data directory, for the session.

    Sets the ``MARKET_*`` variables (with freshly generated secrets) in ``os.environ`` and
    restores them afterwards. Set ``DEVSTACK_KEEP=1`` to keep the data directory.
    """
    from devstack.services import SERVICES
    from devstack.supervisor import Stack

    data_dir = _session_dir()
    pg_port, kafka_port, service_ports = stack_ports(SERVICES)
    stack = Stack(
        data_dir,
        pg_port=pg_port,
        kafka_port=kafka_port,
        service_ports=service_ports,
        log_dir=data_dir / "logs",
    )
    saved: dict[str, str | None] = {}
    try:
        env = stack.start_infra()
        saved = {name: os.environ.get(name) for name in (*env, *TEST_STACK, GROUP_PREFIX)}
        os.environ.update(env)
        os.environ.update(TEST_STACK)
        # Services run in this process by tests use consumer groups of their own: joining
        # the groups of the session's platform would take partitions from its running
        # services (and hold them until the test's consumers leave or time out).
        os.environ[GROUP_PREFIX] = f"test-{uuid.uuid4().hex[:8]}."
        yield Infra(
            stack=stack,
            env=env,
            pg_port=stack.pg_port,
            kafka_port=stack.kafka_port,
            kafka_bootstrap=stack.kafka_bootstrap,
            data_dir=data_dir,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        try:
            stack.stop()
        finally:
            if os.environ.get("DEVSTACK_KEEP") != "1":
                shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def platform(infra: Infra) -> Iterator[Platform]:
    """Every service as its own process on free ports; yields once the gateway is ready.

    Service output goes to ``<data_dir>/logs/<name>.log``; a start-up failure names the
    service and quotes its last lines. ``DEVSTACK_READY_TIMEOUT`` (default 240 s) bounds
    the wait.
    """
    from devstack.errors import StackError

    stack = infra.stack
    try:
        stack.start_services()
        stack.wait_ready(float(os.environ.get("DEVSTACK_READY_TIMEOUT", "240")))
    except StackError:
        stack.stop_services()
        raise
    try:
        yield Platform(
            stack=stack,
            env=stack.env,
            gateway_url=stack.gateway_url,
            service_urls=stack.service_urls,
        )
    finally:
        stack.stop_services()
