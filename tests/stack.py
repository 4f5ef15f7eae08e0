"""Helpers for the platform tests; the ``infra`` and ``platform`` fixtures come from devstack.

The fixtures are registered by the devstack pytest plugin (``devstack.pytest_plugin``),
so the tests under ``services/*/tests`` and ``kernel/tests`` get them too. Import the
types from here for annotations: ``def test_x(platform: Platform) -> None``.
"""

from __future__ import annotations

from devstack.pytest_plugin import Infra, Platform
from devstack.testing import eventually, eventually_async, unique

__all__ = ["Infra", "Platform", "eventually", "eventually_async", "unique"]
