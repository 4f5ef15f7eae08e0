"""A restored backup never brings an erased member back (issue 18; RET-5, PRV-5, SEC-1).

The very commands of the README run against a stack started as ``make run`` starts it:
a backup is taken while two members use the platform, one of them is erased, the stack is
stopped and the backup restored. The erasure journal, kept beside the backups, makes the
restore destroy the member's keys again and each service delete the member's
projections before ``/readyz`` answers 200: the member cannot log in, and no byte of
PostgreSQL or Kafka holds their personal values or a usable key; the other member is
whole.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from dumps import dump_kafka, dump_postgres, leaks
from members import Member, log_in, sign_up, step_up

from devstack.drill import StackRun
from devstack.pgbin import is_root
from devstack.services import port_var
from devstack.testing import eventually
from kernel.crypto import BlindIndex
from kernel.journal import ErasureJournal

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="devstack-backup-"))
    root.chmod(0o711 if is_root() else 0o700)  # PostgreSQL's own user passes through
    yield root
    if os.environ.get("DEVSTACK_KEEP") != "1":
        subprocess.run(["rm", "-rf", str(root)], check=False)  # noqa: S603, S607


def _new_dir(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o711 if is_root() else 0o700)
    return path


def _devstack(run: StackRun, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_")}
    env.update({port_var(name): str(port) for name, port in run.ports.items()})
    env.update({"MARKET_PG_PORT": str(run.pg_port),
                "MARKET_KAFKA_BOOTSTRAP": f"127.0.0.1:{run.kafka_port}"})
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "devstack", *args, "--data-dir", str(run.data_dir)],
        env=env, capture_output=True, text=True, timeout=300, check=False)


def _erase(client: httpx.Client, m: Member) -> None:
    step_up(client, m)
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=m.auth)
    assert resp.status_code == 202, resp.text
    request_id = resp.json()["request_id"]
    status = {"Authorization": f"Bearer {resp.json()['status_token']}"}
    deadline = time.monotonic() + 60
    while (body := client.get(f"/v1/privacy-requests/{request_id}", headers=status)
           .json())["status"] != "completed":
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def _listing(client: httpx.Client, m: Member) -> str:
    title = f"Tuinman {m.username} zoekt werk"

    def posted() -> None:  # once listings has learnt of the account (409 before)
        resp = client.post("/v1/listings", headers=m.auth, json={
            "kind": "profile", "title": title, "description": f"Ervaren, {m.name}",
            "location": {"city": "Utrecht"}})
        assert resp.status_code == 201, resp.text

    eventually(posted, timeout=20)
    return title


def _usable_keys(run: StackRun, subject: str) -> int:
    secrets = dict(line.split("=", 1) for line in (run.data_dir / "secrets.env").read_text()
                   .splitlines() if line and not line.startswith("#"))
    index = BlindIndex(base64.b64decode(secrets["MARKET_SECRETS_INDEX_KEY"].strip()))

    async def count() -> int:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{run.pg_port}/keystore")
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM keystore.subject_keys WHERE subject_hash = $1 "
                "AND wrapped_key IS NOT NULL", index.subject(subject)))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_restoring_a_backup_taken_before_an_erasure_keeps_the_member_erased(
    home: Path,
) -> None:
    data_dir = _new_dir(home / "stack")
    first = StackRun(data_dir)
    try:
        first.start()
        with httpx.Client(base_url=first.gateway_url, timeout=30) as client:
            gone, kept = sign_up(client, "gone"), sign_up(client, "kept")
            gone_title = _listing(client, gone)
            taken = _devstack(first, "backup")
            assert taken.returncode == 0, taken.stderr
            assert "backup written to" in taken.stdout
            _erase(client, gone)
            busy = _devstack(first, "restore")  # refused while the platform runs
            assert busy.returncode == 1 and "stop `make run`" in busy.stderr, busy.stderr
        journal = list(ErasureJournal(home / "stack-backups" / "erasure-journal.jsonl")
                       .entries())
        assert len(journal) == 1  # written by retention when the key was destroyed
        assert gone.account_id.encode() not in journal[0].subject_hash
    finally:
        assert first.stop() == 0, first.tail()

    restored = _devstack(first, "restore")
    assert restored.returncode == 0, restored.stderr
    assert "1 erasure(s)" in restored.stdout and "1 subject(s)" in restored.stdout

    second = StackRun(data_dir)
    try:
        second.start()
        with httpx.Client(base_url=second.gateway_url, timeout=30) as client:
            refused = client.post("/v1/sessions", json={
                "email": gone.email, "password": gone.password, "remember_me": False})
            assert refused.status_code == 401
            log_in(client, kept)
            me = client.get("/v1/me", headers=kept.auth)
            assert me.status_code == 200 and me.json()["email"] == kept.email
            found = client.get("/v1/listings", params={"q": "Tuinman"}).json()["items"]
            assert gone_title not in str(found)
        assert _usable_keys(second, gone.account_id) == 0
        assert _usable_keys(second, kept.account_id) == 1

        def dsn(database: str) -> str:
            return f"postgresql://postgres@127.0.0.1:{second.pg_port}/{database}"

        pg = asyncio.run(dump_postgres(dsn))
        assert leaks(pg, gone) == [], "an erased member's values came back in PostgreSQL"
        assert gone_title.encode() not in pg
        assert kept.email.encode() not in pg  # encrypted at rest, yet readable (above)
        log = asyncio.run(dump_kafka(f"127.0.0.1:{second.kafka_port}"))
        assert leaks(log, gone) == [], "an erased member's values came back in Kafka"
    finally:
        assert second.stop() == 0, second.tail()


def test_restore_without_a_backup_says_so_in_one_line(home: Path) -> None:
    run = StackRun(_new_dir(home / "empty"))
    nothing = _devstack(run, "restore")
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("devstack restore: no backup in")
    assert "Traceback" not in nothing.stderr
