"""Backups of the embedded stack that never bring an erased member back (RET-5, PRV-5).

``make backup`` dumps both databases (the platform's and the key store's) and copies the
root secrets into ``<backups>/<UTC time>/``, with a manifest of checksums. ``make restore``
puts such a backup back, then applies again every erasure the erasure journal recorded
(``kernel.journal``: kept beside the backups, never inside one, so a restore cannot roll it
back):

1. the key store destroys the key of every journalled subject again (all its scoped keys
   too, but those of a category a legal hold still keeps, as the subject's last journal
   line says, RET-4), so nothing encrypted for them can be read from the restored stores
   or the broker;
2. each service is told, through ``<schema>.erasure_replay``, which of the subjects it
   knows are to be erased; it deletes their projections and cached keys when it starts,
   before it reports ready, so ``/readyz`` is 200 only once that is done.

The backups directory is ``$MARKET_BACKUP_DIR``, by default ``<data dir>-backups`` beside
the data directory (``.stack-backups``), which ``make reset`` leaves alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog

from devstack import pgbin, secrets
from devstack.errors import StackError
from devstack.ports import HOST, is_listening
from devstack.postgres import Postgres
from kernel.crypto import BlindIndex
from kernel.journal import ErasureJournal, JournalError, kept_after
from kernel.restore import erase_again

log = structlog.get_logger("devstack.backup")

DATABASES = ("marketplace", "keystore")
"""Dumped in this order: keys created while the platform's dump runs are in the key
store's dump, taken after it (the other order could leave events without their key)."""

JOURNAL_NAME = "erasure-journal.jsonl"
MANIFEST = "manifest.json"


def backup_dir(data_dir: Path) -> Path:
    """Where backups and the erasure journal are kept for ``data_dir``."""
    configured = os.environ.get("MARKET_BACKUP_DIR")
    if configured:
        return Path(configured).absolute()
    data_dir = Path(data_dir).absolute()
    return data_dir.parent / f"{data_dir.name}-backups"


def journal_path(data_dir: Path) -> Path:
    """The erasure journal of the stack in ``data_dir``."""
    return backup_dir(data_dir) / JOURNAL_NAME


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    backup: Path
    taken_at: str
    journalled: int
    keys_destroyed_again: int
    subjects_requeued: int


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise StackError(f"{what} failed: {detail[-1] if detail else done.returncode}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pg_url(port: int, database: str) -> str:
    return f"postgresql://postgres@{HOST}:{port}/{database}"


def take_backup(data_dir: Path, pg_port: int, into: Path | None = None) -> Path:
    """Dump both databases and the root secrets; returns the backup's directory.

    PostgreSQL must be running (``make run`` or ``make infra``); the platform may serve
    meanwhile: each database is dumped from one consistent snapshot.

    Raises:
        StackError: PostgreSQL is not running, or a dump failed.
    """
    data_dir = Path(data_dir).absolute()
    source = data_dir / secrets.FILE_NAME
    if not source.exists():
        raise StackError(f"no stack in {data_dir}: {secrets.FILE_NAME} is missing")
    if not is_listening(pg_port):
        raise StackError(f"PostgreSQL is not running on port {pg_port}: start `make run` first")
    taken = datetime.now(UTC)
    root = into or backup_dir(data_dir)
    target = root / taken.strftime("%Y%m%dT%H%M%S.%fZ")
    target.mkdir(parents=True, mode=0o700)
    bins = pgbin.find_binaries()
    try:
        for db in DATABASES:
            _run([bins.tool("pg_dump"), "--format=custom", "--no-owner",
                  f"--file={target / f'{db}.dump'}", _pg_url(pg_port, db)], f"pg_dump {db}")
        shutil.copy2(source, target / secrets.FILE_NAME)
        (target / secrets.FILE_NAME).chmod(0o600)
        count, head = ErasureJournal(journal_path(data_dir)).head()
        manifest = {
            "taken_at": taken.isoformat(),
            "files": {p.name: _sha256(p) for p in sorted(target.iterdir())},
            "journal_at_backup": {"entries": count, "head": head},
        }
        (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    log.info("backup.taken", path=str(target))
    return target


def _check(backup: Path) -> dict[str, object]:
    manifest_file = backup / MANIFEST
    if not manifest_file.exists():
        raise StackError(f"{backup} is not a backup: {MANIFEST} is missing")
    manifest: dict[str, object] = json.loads(manifest_file.read_text())
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise StackError(f"{backup}: {MANIFEST} lists no files")
    for name, digest in files.items():
        path = backup / name
        if not path.exists() or _sha256(path) != digest:
            raise StackError(f"{backup}: {name} is missing or damaged (checksum differs)")
    return manifest


def restore_backup(
    backup: Path, data_dir: Path, pg_port: int, busy_ports: list[int]
) -> RestoreReport:
    """Put a backup back and apply again every erasure journalled since (see the module).

    Raises:
        StackError: the platform is running, the backup is damaged, the journal is
            damaged, or PostgreSQL could not be restored.
    """
    backup = Path(backup).absolute()
    data_dir = Path(data_dir).absolute()
    manifest = _check(backup)
    running = [p for p in busy_ports if is_listening(p)]
    if running:
        raise StackError(f"the platform is running (port {running[0]} is taken): "
                         "stop `make run` before a restore")
    try:
        journalled = list(ErasureJournal(journal_path(data_dir)).entries())
    except JournalError as exc:
        raise StackError(f"the erasure journal is damaged, refusing to restore: {exc}") from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    _restore_secrets(backup, data_dir)
    keys = secrets.load_or_create(data_dir)
    index = BlindIndex(base64.b64decode(keys["MARKET_SECRETS_INDEX_KEY"]))
    postgres = Postgres(data_dir / "pg", pg_port)
    started = False
    if not is_listening(pg_port):
        postgres.start()
        started = True
    try:
        bins = pgbin.find_binaries()
        for db in DATABASES:
            asyncio.run(_recreate(pg_port, db))
            _run([bins.tool("pg_restore"), "--no-owner", "--exit-on-error",
                  f"--dbname={_pg_url(pg_port, db)}", str(backup / f"{db}.dump")],
                 f"pg_restore {db}")
        hashes = [e.subject_hash for e in journalled]
        destroyed, requeued = asyncio.run(erase_again(
            _pg_url(pg_port, "marketplace"), _pg_url(pg_port, "keystore"), hashes, index,
            kept_after(journalled)))
    finally:
        if started:
            postgres.stop()
    report = RestoreReport(backup, str(manifest.get("taken_at")), len(journalled), destroyed,
                           requeued)
    log.info("backup.restored", path=str(backup), journalled=len(journalled),
             keys_destroyed_again=destroyed, subjects_requeued=requeued)
    return report


def _restore_secrets(backup: Path, data_dir: Path) -> None:
    """The backup's root secrets: its data is encrypted and indexed under them."""
    wanted = backup / secrets.FILE_NAME
    current = data_dir / secrets.FILE_NAME
    if current.exists() and current.read_bytes() != wanted.read_bytes():
        kept = current.with_name(f"{secrets.FILE_NAME}.before-restore-"
                                 f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        current.replace(kept)
        log.warning("backup.secrets_replaced", kept=str(kept))
    shutil.copy2(wanted, current)
    current.chmod(0o600)


async def _recreate(pg_port: int, db: str) -> None:
    conn = await asyncpg.connect(_pg_url(pg_port, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()
