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


def test_a_rotation_adds_a_key_version_and_a_rerun_resumes_with_the_same_keys(
    data_dir: Path,
) -> None:
    from devstack import rotation, secrets
    from kernel.settings import derive_proof_seed

    first = load_or_create(data_dir)
    old = base64.b64decode(first["MARKET_SECRETS_MASTER_KEY"])
    assert rotation.prepare(data_dir) == (2, (1,), False)
    during = secrets.read(data_dir)
    assert secrets.master_keys(during) == (2, {1: old, 2: secrets.master_keys(during)[1][2]})
    assert base64.b64decode(during[secrets.PROOF_SEED]) == derive_proof_seed(old)
    assert rotation.prepare(data_dir) == (2, (1,), True)  # interrupted: the same keys again
    assert secrets.read(data_dir) == during
    assert load_or_create(data_dir) == during  # what the services are given
    text = (data_dir / FILE_NAME).read_text()
    assert text.startswith("# Root secrets")
    assert (data_dir / FILE_NAME).stat().st_mode & 0o777 == 0o600
    rotation.finish(data_dir, (1,))
    after = secrets.read(data_dir)
    assert secrets.master_keys(after) == (2, {2: secrets.master_keys(during)[1][2]})
    assert secrets.PREVIOUS not in after and after[secrets.PROOF_SEED] == during[secrets.PROOF_SEED]
    assert not list(data_dir.glob("*.tmp"))


def test_a_damaged_key_version_is_refused(data_dir: Path) -> None:
    load_or_create(data_dir)
    path = data_dir / FILE_NAME
    path.write_text(path.read_text() + "MARKET_SECRETS_PREVIOUS_MASTER_KEYS=1:short\n")
    with pytest.raises(StackError, match="MARKET_SECRETS_PREVIOUS_MASTER_KEYS"):
        load_or_create(data_dir)
