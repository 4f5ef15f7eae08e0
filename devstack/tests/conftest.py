"""Helpers shared by the runner's own tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.pgbin import is_root


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory the PostgreSQL user can enter, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="devstack-test-"))
    path.chmod(0o711 if is_root() else 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)
