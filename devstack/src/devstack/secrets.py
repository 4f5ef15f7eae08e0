"""The root secrets, generated once and kept in ``<data dir>/secrets.env`` (mode 0600)."""

from __future__ import annotations

import base64
import os
import secrets as _random
from pathlib import Path

import structlog

from devstack.errors import StackError
from kernel.settings import parse_master_keys

log = structlog.get_logger("devstack.secrets")

DATA_SECRETS = ("MARKET_SECRETS_MASTER_KEY", "MARKET_SECRETS_INDEX_KEY")
"""Secrets that stored data depends on: never replaced, refused when damaged."""

SESSION_SECRETS = ("MARKET_SECRETS_INTERNAL_KEY", "LISTINGS_TELEPHONY_SECRET")
"""Secrets nothing stored depends on (signing internal calls, the telephony provider's call
reports to the listings service): added when missing."""

SECRET_NAMES = (*DATA_SECRETS, *SESSION_SECRETS)
FILE_NAME = "secrets.env"

VERSION = "MARKET_SECRETS_MASTER_KEY_VERSION"
PREVIOUS = "MARKET_SECRETS_PREVIOUS_MASTER_KEYS"
PROOF_SEED = "MARKET_SECRETS_PROOF_SEED"
ROTATION_NAMES = (VERSION, PREVIOUS, PROOF_SEED)
"""Written by a master-key rotation (``devstack.rotation``), passed on when present."""


def new_secrets() -> dict[str, str]:
    """Fresh root secrets: each base64 of 32 random bytes."""
    return {name: base64.b64encode(_random.token_bytes(32)).decode() for name in SECRET_NAMES}


def load_or_create(data_dir: Path) -> dict[str, str]:
    """The root secrets kept in ``data_dir``, generated and written on first use.

    Reusing them on restart keeps what PostgreSQL holds decryptable; losing the file
    makes every encrypted field unreadable, which is why it is never rewritten.

    Args:
        data_dir: The stack's data directory.

    Raises:
        StackError: The file exists but is not valid.
    """
    path = Path(data_dir) / FILE_NAME
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
            log.warning("secrets.permissions_tightened", path=str(path))
        values = _parse(path)
        added = {k: v for k, v in new_secrets().items() if k in SESSION_SECRETS and k not in values}
        if added:
            _write(path, path.read_text(), {**values, **added})
            log.info("secrets.added", path=str(path), names=sorted(added))
        merged = {**values, **added}
        return {name: merged[name] for name in (*SECRET_NAMES, *ROTATION_NAMES)
                if name in merged}
    values = new_secrets()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, "# Root secrets of this embedded stack. Keep them: without them the data\n"
           "# stored in PostgreSQL under this directory cannot be decrypted.\n", values)
    log.info("secrets.generated", path=str(path))
    return values


def _write(path: Path, head: str, values: dict[str, str]) -> None:
    """Write ``head`` then every secret not already in it, atomically, mode 0600."""
    lines = [f"{name}={value}\n" for name, value in values.items()
             if not head.startswith(f"{name}=") and f"\n{name}=" not in head]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(head if head.endswith("\n") or not head else head + "\n")
        out.writelines(lines)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def _parse(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    for name in SECRET_NAMES:
        if name in SESSION_SECRETS and name not in values:
            continue  # added by the caller
        value = values.get(name, "")
        try:
            ok = len(base64.b64decode(value, validate=True)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise StackError(f"{path}: {name} is missing or not 32 bytes of base64")
    try:
        parse_master_keys(values.get(PREVIOUS, ""))
        version = int(values.get(VERSION, "1"))
    except ValueError:
        raise StackError(f"{path}: {VERSION} or {PREVIOUS} is not valid") from None
    if version < 1:
        raise StackError(f"{path}: {VERSION} must be at least 1")
    return {name: values[name] for name in (*SECRET_NAMES, *ROTATION_NAMES) if name in values}


def read(data_dir: Path) -> dict[str, str]:
    """The secrets of ``data_dir`` as they are (never generated).

    Raises:
        StackError: The file is missing or not valid.
    """
    path = Path(data_dir) / FILE_NAME
    if not path.exists():
        raise StackError(f"no stack in {data_dir}: {FILE_NAME} is missing")
    return _parse(path)


def master_keys(values: dict[str, str]) -> tuple[int, dict[int, bytes]]:
    """The current master-key version and every master key of ``values``, by version."""
    version = int(values.get(VERSION, "1"))
    keys = parse_master_keys(values.get(PREVIOUS, ""))
    keys[version] = base64.b64decode(values["MARKET_SECRETS_MASTER_KEY"])
    return version, keys


def replace(data_dir: Path, values: dict[str, str]) -> None:
    """Write ``values`` as the secrets of ``data_dir``, atomically (mode 0600, fsync): a
    reader sees the old file or the new one, never a mix."""
    path = Path(data_dir) / FILE_NAME
    head = "".join(line + "\n" for line in path.read_text().splitlines()
                   if line.startswith("#")) if path.exists() else ""
    _write(path, head, {k: v for k, v in values.items() if v != ""})
