"""The stack runner: infrastructure, services as children, readiness, failures, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import supervisor
from devstack.errors import StackError
from devstack.ports import free_ports, is_listening, stack_ports
from devstack.services import SERVICES
from devstack.supervisor import Stack

pytestmark = pytest.mark.integration

FAKE_SERVICE = Path(__file__).parent / "fake_service.py"


def _stack(data_dir: Path) -> Stack:
    pg_port, kafka_port, service_ports = stack_ports(SERVICES)
    return Stack(
        data_dir,
        pg_port=pg_port,
        kafka_port=kafka_port,
        service_ports=service_ports,
        commands={name: [sys.executable, str(FAKE_SERVICE), name] for name in SERVICES},
        log_dir=data_dir / "logs",
    )


def _all_ports(stack: Stack) -> list[int]:
    return [stack.pg_port, stack.kafka_port, *stack.service_ports.values()]


@pytest.fixture
def stack(data_dir: Path) -> Iterator[Stack]:
    runner = _stack(data_dir)
    yield runner
    runner.stop()
    assert not any(is_listening(port) for port in _all_ports(runner))


def test_services_get_the_infrastructure_and_the_gateway_gets_ready(stack: Stack) -> None:
    env = stack.start_infra()
    assert env["MARKET_PG_PORT"] == str(stack.pg_port)
    assert env["MARKET_KAFKA_BOOTSTRAP"] == stack.kafka_bootstrap
    assert env["MARKET_DATA_DIR"] == str(stack.data_dir)
    stack.start_services()
    stack.wait_ready(timeout=30)
    answer = httpx.get(f"{stack.service_urls['accounts']}/readyz")
    assert answer.text == str(stack.pg_port)  # the fake echoes what it was given
    assert stack.env["GATEWAY_ACCOUNTS_URL"] == stack.service_urls["accounts"]


def test_a_killed_service_can_be_restarted(stack: Stack) -> None:
    stack.start_infra()
    stack.start_services()
    stack.wait_ready(timeout=30)
    stack.kill("listings")
    assert stack.dead_services() == {"listings": -signal.SIGKILL}
    stack.restart("listings", timeout=30)
    assert stack.dead_services() == {}
    assert httpx.get(f"{stack.service_urls['listings']}/readyz").status_code == 200


def test_a_service_killed_while_readiness_is_confirmed_is_healed(stack: Stack) -> None:
    """A part killed the moment /readyz said 200 is restarted by the run's healer, which
    ticks from the start-up on; it does not fail the start."""
    stack.start_infra()
    stack.start_services()
    stack.wait_ready(timeout=30)
    stack.kill("listings")
    with pytest.raises(StackError, match="'listings' exited"):
        stack.wait_ready(timeout=30)  # no healer: a dead service fails the start
    healer = stack.healer()
    deadline = time.monotonic() + 30
    while healer.restarts["listings"] == 0 and time.monotonic() < deadline:
        stack.wait_ready(timeout=30, heal=healer.tick)
        time.sleep(0.1)
    assert healer.restarts["listings"] == 1
    assert stack.dead_services() == {}


def test_a_broker_restart_without_its_topics_leaves_no_broker_running(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker comes back with its topics or not at all: one left
    running without them would count as alive and never be restarted again."""
    stack.start_infra()
    stack.broker.stop()

    def refuse(*_: object, **__: object) -> None:
        raise StackError("creating topic accounts.events.v1 failed")

    monkeypatch.setattr(supervisor, "create_topics", refuse)
    with pytest.raises(StackError, match="creating topic"):
        stack._restart_broker()
    assert not stack.broker.alive()
    monkeypatch.undo()
    stack._restart_broker()
    assert stack.broker.alive()


def test_a_service_dying_at_start_up_is_named(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CRASH", "consent")
    stack.start_infra()
    stack.start_services()
    with pytest.raises(StackError, match="'consent' exited with code 3") as failure:
        stack.wait_ready(timeout=30)
    assert "crashing as asked" in str(failure.value)


def test_secrets_survive_a_restart_of_the_stack(data_dir: Path) -> None:
    first = _stack(data_dir)
    try:
        keys = first.start_infra()
    finally:
        first.stop()
    second = _stack(data_dir)
    try:
        again = second.start_infra()
    finally:
        second.stop()
    for name in ("MARKET_SECRETS_MASTER_KEY", "MARKET_SECRETS_INDEX_KEY"):
        assert again[name] == keys[name]


def test_infra_command_stops_cleanly_on_sigterm(data_dir: Path) -> None:
    pg_port, kafka_port = free_ports(2)
    env = {
        **os.environ,
        "MARKET_PG_PORT": str(pg_port),
        "MARKET_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
    }
    proc = subprocess.Popen(  # noqa: S603 - argv built here
        [sys.executable, "-m", "devstack", "infra", "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        assert is_listening(pg_port) and is_listening(kafka_port)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - began < 20
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not is_listening(pg_port) and not is_listening(kafka_port)


def test_run_command_starts_every_service_and_stops_them_on_sigterm(
    data_dir: Path, tmp_path: Path
) -> None:
    # Stand-in packages shadow the real services: `python -m accounts` runs the fake.
    for name in SERVICES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "__main__.py").write_text(
            f"import runpy, sys\nsys.argv = ['fake', {name!r}]\n"
            f"runpy.run_path({str(FAKE_SERVICE)!r}, run_name='__main__')\n"
        )
    pg_port, kafka_port, ports = stack_ports(SERVICES)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "MARKET_PG_PORT": str(pg_port),
        "MARKET_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        **{f"{name.upper()}_HTTP_PORT": str(port) for name, port in ports.items()},
    }
    proc = subprocess.Popen(  # noqa: S603 - argv built here
        [sys.executable, "-m", "devstack", "run", "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert f"http://127.0.0.1:{ports['gateway']}/ops" in "".join(printed)
        assert httpx.get(f"http://127.0.0.1:{ports['gateway']}/readyz").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not any(is_listening(port) for port in ports.values())
