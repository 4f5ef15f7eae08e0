"""``make rotate-master-key``: a new master key for the embedded stack, online (SEC-1).

The platform keeps serving throughout. The steps (``kernel.keyring`` holds the mechanism),
each safe to run again, so that a crashed rotation is resumed by running the command again:

1. ``secrets.env`` gets a new master key as the current version, the old one kept as a
   previous version (one atomic rename); the erasure-proof seed is fixed first from the
   old key, so proofs issued before still verify (RET-5). A running service that meets the
   new version reads the file again.
2. The key store makes the new version current: from then on no key is wrapped under the
   old one (its trigger refuses it; services read their secrets again and retry).
3. Every live subject and scoped key is rewrapped under the new key, in batches of one
   transaction each; destroyed keys stay destroyed.
4. Once no row uses the old version, ``secrets.env`` drops it (another atomic rename).

A backup taken before holds the old key in its own copy of ``secrets.env``: it still
restores (``make restore`` puts that file back), but it is the one copy of the retired key
left. The command says to take a fresh backup and, once it exists, delete the older ones.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets as _random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

from devstack import secrets
from devstack.errors import StackError
from devstack.ports import HOST, is_listening
from kernel.crypto import BlindIndex, KeyWrapper
from kernel.keyring import KeyRing, begin_rotation, remaining, retire, rewrap_all
from kernel.keystore import PostgresKeyStore
from kernel.settings import derive_proof_seed, format_master_keys

log = structlog.get_logger("devstack.rotation")


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did."""

    old_versions: tuple[int, ...]
    new_version: int
    rewrapped: int
    seconds: float
    resumed: bool

    @property
    def per_second(self) -> float:
        """Keys rewrapped per second."""
        return self.rewrapped / self.seconds if self.seconds else 0.0


def prepare(data_dir: Path) -> tuple[int, tuple[int, ...], bool]:
    """Step 1: the new master key current in ``secrets.env``, the old ones kept.

    Returns:
        (the new version, the versions to retire, whether a rotation was resumed).
    """
    values = secrets.read(data_dir)
    version, keys = secrets.master_keys(values)
    if len(keys) > 1:  # a rotation stopped half-way: carry on with the same keys
        return version, tuple(sorted(v for v in keys if v != version)), True
    new = version + 1
    fresh = base64.b64encode(_random.token_bytes(32)).decode()
    updated = {
        **values,
        secrets.PROOF_SEED: values.get(secrets.PROOF_SEED) or base64.b64encode(
            derive_proof_seed(keys[version])).decode(),
        "MARKET_SECRETS_MASTER_KEY": fresh,
        secrets.VERSION: str(new),
        secrets.PREVIOUS: format_master_keys({version: keys[version]}),
    }
    secrets.replace(data_dir, updated)
    log.info("rotation.key_added", version=new, previous=version)
    return new, (version,), False


def finish(data_dir: Path, retired: tuple[int, ...]) -> None:
    """Step 4: ``secrets.env`` without the retired versions."""
    values = secrets.read(data_dir)
    version, keys = secrets.master_keys(values)
    left = {v: k for v, k in keys.items() if v != version and v not in retired}
    secrets.replace(data_dir, {**values, secrets.PREVIOUS: format_master_keys(left)})
    log.info("rotation.key_retired", versions=list(retired))


async def rewrap(data_dir: Path, dsn: str, batch: int) -> tuple[int, tuple[int, ...]]:
    """Steps 2 and 3, then the check of step 4; returns (rewrapped, versions retired)."""
    values = secrets.read(data_dir)
    version, keys = secrets.master_keys(values)
    ring = KeyRing({v: KeyWrapper(k) for v, k in keys.items()}, version)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        index = BlindIndex(base64.b64decode(values["MARKET_SECRETS_INDEX_KEY"]))
        await PostgresKeyStore(pool, ring, index).migrate()  # a store made before versions
        unknown = set(await remaining(pool)) - set(keys)
        if unknown:
            raise StackError(f"the key store has keys of master-key version(s) "
                             f"{sorted(unknown)}, which {secrets.FILE_NAME} does not hold")
        await begin_rotation(pool, version)
        done = await rewrap_all(pool, ring, batch, _progress)
        retired = tuple([v for v in sorted(keys) if v != version and await retire(pool, v)])
    finally:
        await pool.close()
    return done, retired


def _progress(done: int) -> None:
    sys.stderr.write(f"\rrewrapped {done} key(s)")
    sys.stderr.flush()


def rotate(data_dir: Path, pg_port: int, batch: int = 500) -> RotationReport:
    """A new master key, every wrapped key rewrapped under it, the old key retired.

    Raises:
        StackError: no stack, PostgreSQL not running, or keys of an unknown version.
    """
    data_dir = Path(data_dir).absolute()
    if not is_listening(pg_port):
        raise StackError(f"PostgreSQL is not running on port {pg_port}: start `make run` first")
    began = time.monotonic()
    new, old, resumed = prepare(data_dir)
    dsn = f"postgresql://postgres@{HOST}:{pg_port}/keystore"
    done, retired = asyncio.run(rewrap(data_dir, dsn, batch))
    seconds = time.monotonic() - began
    if done:
        sys.stderr.write("\n")
    if set(retired) != set(old):
        raise StackError(f"version(s) {sorted(set(old) - set(retired))} still wrap some keys; "
                         "run the command again")
    finish(data_dir, retired)
    report = RotationReport(old, new, done, seconds, resumed)
    log.info("rotation.done", version=new, rewrapped=done, seconds=round(seconds, 2))
    return report


def main(data_dir: Path, batch: int) -> int:
    """``python -m devstack rotate-master-key``: rotate and print what was done."""
    pg_port = int(os.environ.get("MARKET_PG_PORT", "5433"))
    report = rotate(data_dir, pg_port, batch)
    print(f"master key version {report.new_version} is current"
          f"{' (an interrupted rotation resumed)' if report.resumed else ''}; "
          f"{report.rewrapped} key(s) rewrapped in {report.seconds:.2f} s "
          f"({report.per_second:.0f}/s); version(s) {list(report.old_versions)} retired "
          f"from {Path(data_dir) / secrets.FILE_NAME}.")
    print("Take a fresh backup now (`make backup`): older backups hold the retired key in "
          "their copy of secrets.env (they still restore, under it); delete them once the "
          "new one exists.")
    return 0
