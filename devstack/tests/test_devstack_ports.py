"""Free ports for a stack are distinct (a run once got PostgreSQL's port for a service)."""

from __future__ import annotations

import socket

from devstack.ports import free_ports, stack_ports


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(50)
    assert len(set(ports)) == 50
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_stack_ports_never_repeat_a_port() -> None:
    for _ in range(200):
        pg_port, kafka_port, services = stack_ports(["a", "b", "c", "d", "e", "f"])
        picked = [pg_port, kafka_port, *services.values()]
        assert len(set(picked)) == len(picked) == 8
        assert list(services) == ["a", "b", "c", "d", "e", "f"]
