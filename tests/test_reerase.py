"""Issue 18, RET-5: after a cluster's PostgreSQL is restored from a backup taken before an
erasure, ``marketplace-reerase`` erases the member again from the retention topic's record,
which a database restore does not roll back (deploy/README.md, "Backups")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from members import sign_up, step_up
from stack import Infra, Platform, eventually

from kernel.crypto import BlindIndex
from kernel.settings import SecretsSettings

pytestmark = pytest.mark.e2e


def _reerase(platform: Platform, *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "retention.reerase", *args], capture_output=True, text=True,
        timeout=180, env=env or {**os.environ, **platform.env}, check=False)


def _erase(client: httpx.Client, auth: dict[str, str]) -> None:
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=auth)
    assert resp.status_code == 202, resp.text
    rid, token = resp.json()["request_id"], resp.json()["status_token"]

    def completed() -> None:
        got = client.get(f"/v1/privacy-requests/{rid}",
                         headers={"Authorization": f"Bearer {token}"}).json()
        assert got["status"] == "completed", got

    eventually(completed, timeout=60)


async def _as_a_restore_leaves_it(infra: Infra, subject_hash: bytes) -> None:
    """The key row as a backup taken before the erasure brings it back: a wrapped key."""
    conn = await asyncpg.connect(infra.pg_dsn("keystore"))
    try:
        done = await conn.execute(
            "UPDATE keystore.subject_keys SET wrapped_key = $2, erased_at = NULL "
            "WHERE subject_hash = $1", subject_hash, os.urandom(60))
        assert done != "UPDATE 0"
    finally:
        await conn.close()


async def _state(infra: Infra, subject_hash: bytes, subject_id: str
                 ) -> tuple[list[bool], list[str]]:
    """(has a wrapped key, per key row) and the schemas that queued the subject; the queue
    rows are removed again (the session's services are not restarted from a backup)."""
    ks = await asyncpg.connect(infra.pg_dsn("keystore"))
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        keys = [r["wrapped"] for r in await ks.fetch(
            "SELECT wrapped_key IS NOT NULL AS wrapped FROM keystore.subject_keys "
            "WHERE subject_hash = $1", subject_hash)]
        queued = []
        for r in await conn.fetch("SELECT table_schema FROM information_schema.tables "
                                  "WHERE table_name = 'erasure_replay'"):
            schema = r["table_schema"]
            if await conn.fetchval(f'DELETE FROM "{schema}".erasure_replay '
                                   "WHERE subject_id = $1 RETURNING 1", subject_id):
                queued.append(schema)
        return keys, sorted(queued)
    finally:
        await ks.close()
        await conn.close()


def test_ret5_reerase_after_a_restore_destroys_the_key_again_and_queues_the_services(
    client: httpx.Client, platform: Platform, infra: Infra,
) -> None:
    began = datetime.now(UTC)
    m = sign_up(client, "reerase")
    step_up(client, m)
    time.sleep(1)  # the account reaches every service before it is erased
    _erase(client, m.auth)
    index = BlindIndex(SecretsSettings().index_key_bytes())  # the session's, in os.environ
    subject_hash = index.subject(m.account_id)
    asyncio.run(_as_a_restore_leaves_it(infra, subject_hash))

    dry = _reerase(platform, "--since", began.isoformat(), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "erasures on the log: " in dry.stdout and "dry run" in dry.stdout
    assert asyncio.run(_state(infra, subject_hash, m.account_id))[0] == [True]

    def reerased() -> None:
        got = _reerase(platform, "--since", began.isoformat())
        assert got.returncode == 0, got.stderr
        keys, queued = asyncio.run(_state(infra, subject_hash, m.account_id))
        assert keys and not any(keys), keys
        assert {"accounts", "consent", "listings", "messaging"} <= set(queued), queued

    eventually(reerased, timeout=60)  # the order reaches Kafka after the receipts


def test_reerase_without_secrets_or_broker_says_so_in_one_line(platform: Platform) -> None:
    env = {k: v for k, v in {**os.environ, **platform.env}.items()
           if not k.startswith("MARKET_SECRETS_")}
    got = _reerase(platform, "--data-dir", "/nonexistent", env=env)
    assert got.returncode == 2 and got.stderr.count("\n") == 1, got.stderr
    assert "MARKET_SECRETS_INDEX_KEY" in got.stderr and "Traceback" not in got.stderr
    env = {**os.environ, **platform.env, "MARKET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    got = _reerase(platform, env=env)
    assert got.returncode == 2 and "Traceback" not in got.stderr, got.stderr
    assert got.stderr.startswith("error: "), got.stderr
