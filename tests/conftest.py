"""Platform tests: the ``infra`` and ``platform`` fixtures come from the devstack plugin."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from stack import Platform


def pytest_configure(config: pytest.Config) -> None:
    """Fail with a hint, not "fixture not found", when the devstack plugin is missing."""
    manager = config.pluginmanager
    if not (manager.has_plugin("devstack") or manager.has_plugin("devstack.pytest_plugin")):
        raise pytest.UsageError(
            "the devstack pytest plugin is not loaded: run `uv sync --frozen` "
            "(it registers the `pytest11` entry point) or pass `-p devstack.pytest_plugin`"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that stop shared infrastructure after all the others."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="module")
def client(platform: Platform) -> Iterator[httpx.Client]:
    """A client of the session platform's gateway (modules may define their own)."""
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as c:
        yield c
