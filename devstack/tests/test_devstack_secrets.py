"""Root secrets: generated once, kept private, the same after a restart."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from devstack.errors import StackError
from devstack.secrets import FILE_NAME, load_or_create

pytestmark = pytest.mark.unit


def test_secrets_are_generated_once_and_reused(data_dir: Path) -> None:
    first = load_or_create(data_dir)
    again = load_or_create(data_dir)
    assert first == again
    assert set(first) == {"MARKET_SECRETS_MASTER_KEY", "MARKET_SECRETS_INDEX_KEY",
                          "MARKET_SECRETS_INTERNAL_KEY", "LISTINGS_TELEPHONY_SECRET"}
    assert all(len(base64.b64decode(v)) == 32 for v in first.values())
    assert len(set(first.values())) == 4


def test_a_secret_added_later_joins_an_older_file_without_touching_the_others(
    data_dir: Path,
) -> None:
    added = ("MARKET_SECRETS_INTERNAL_KEY", "LISTINGS_TELEPHONY_SECRET")
    old = {k: v for k, v in load_or_create(data_dir).items() if k not in added}
    path = data_dir / FILE_NAME
    path.write_text("".join(f"{k}={v}\n" for k, v in old.items()))
    now = load_or_create(data_dir)
    assert {k: now[k] for k in old} == old
    assert all(len(base64.b64decode(now[name])) == 32 for name in added)
    assert load_or_create(data_dir) == now
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_secrets_file_is_readable_by_its_owner_only(data_dir: Path) -> None:
    load_or_create(data_dir)
    path = data_dir / FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    load_or_create(data_dir)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_damaged_secrets_file_is_refused_not_replaced(data_dir: Path) -> None:
    path = data_dir / FILE_NAME
    path.write_text("MARKET_SECRETS_MASTER_KEY=short\n")
    with pytest.raises(StackError, match="MARKET_SECRETS_MASTER_KEY"):
        load_or_create(data_dir)
    assert path.read_text() == "MARKET_SECRETS_MASTER_KEY=short\n"
