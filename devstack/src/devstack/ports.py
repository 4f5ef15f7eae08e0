"""Loopback port helpers: find a free one, check one is free, wait for one to open."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable

from devstack.errors import StackError

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that nothing listens on right now.

    Every socket stays bound until all are picked: ports picked one by one can
    repeat, since the OS may hand a just-released port out again.
    """
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def stack_ports(services: Iterable[str]) -> tuple[int, int, dict[str, int]]:
    """Distinct free ports for a stack: PostgreSQL's, the broker's and one per service."""
    names = list(services)
    pg_port, kafka_port, *picked = free_ports(len(names) + 2)
    return pg_port, kafka_port, dict(zip(names, picked, strict=True))


def is_listening(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_free(port: int, what: str, host: str = HOST) -> None:
    """Fail fast when ``port`` is taken.

    Args:
        port: The port the stack is about to listen on.
        what: Who wants it, for the error message.
        host: The address it will be bound to.

    Raises:
        StackError: The port is in use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StackError(
                f"port {host}:{port} wanted by {what} is already in use ({exc.strerror}); "
                "stop whatever holds it or choose another port"
            ) from exc


def wait_listening(port: int, what: str, timeout: float, host: str = HOST) -> None:
    """Block until ``host:port`` accepts connections.

    Raises:
        StackError: It did not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not is_listening(port, host):
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not open {host}:{port} within {timeout:.0f} s")
        time.sleep(0.02)
