"""The master key rotated while the platform serves (issue 34; SEC-1, RET-5, PRV-5).

A stack started as ``make run`` starts it holds members (one of them erased) and a backup;
``python -m devstack rotate-master-key`` (``make rotate-master-key``) then runs while
members keep signing up, after a first attempt stopped right after it changed the secrets
file. Afterwards every member logs in and reads their own data, the old master key opens
no wrapped key, the erased member stays erased, ``secrets.env`` holds the new key only,
and the backup taken before the rotation still restores (it carries its own secrets).
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from members import Member, log_in, sign_up, sign_up_body, step_up

from devstack import rotation, secrets
from devstack.drill import StackRun
from devstack.pgbin import is_root
from devstack.services import port_var
from kernel.crypto import DecryptionError, KeyWrapper
from kernel.settings import derive_proof_seed

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="devstack-rotation-"))
    root.chmod(0o711 if is_root() else 0o700)  # PostgreSQL's own user passes through
    yield root
    if os.environ.get("DEVSTACK_KEEP") != "1":
        subprocess.run(["rm", "-rf", str(root)], check=False)  # noqa: S603, S607


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
    status = {"Authorization": f"Bearer {resp.json()['status_token']}"}
    url = f"/v1/privacy-requests/{resp.json()['request_id']}"
    deadline = time.monotonic() + 90
    while client.get(url, headers=status).json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _reads_own_data(client: httpx.Client, m: Member) -> None:
    log_in(client, m)
    me = client.get("/v1/me", headers=m.auth)
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["email"]) == (m.name, m.email)


class _Load:
    """Members signing up from two threads until stopped: the writes during a rotation."""

    def __init__(self, url: str) -> None:
        self.url, self.accepted, self.refused = url, [], []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            terms = c.get("/v1/terms").json()["version"]
            while not self._stop.is_set():
                body = {**sign_up_body("load"), "accept_terms_version": terms}
                resp = c.post("/v1/accounts", json=body)
                if resp.status_code == 201:
                    self.accepted.append(Member(
                        resp.json()["account_id"], str(body["email"]), str(body["password"]),
                        str(body["name"]), str(body["username"]), str(body["phone"]), ""))
                else:
                    self.refused.append(resp.text)

    def __enter__(self) -> _Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


async def _wrapped_keys(run: StackRun) -> list[tuple[bytes, bytes, int]]:
    conn = await asyncpg.connect(run.dsn("keystore"))
    try:
        rows = await conn.fetch("SELECT subject_hash, scope, wrapped_key, key_version "
                                "FROM keystore.subject_keys WHERE wrapped_key IS NOT NULL")
    finally:
        await conn.close()
    return [(bytes(r["subject_hash"]) + (b"\x00" + r["scope"].encode() if r["scope"] else b""),
             bytes(r["wrapped_key"]), int(r["key_version"])) for r in rows]


def test_sec_1_master_key_rotated_under_load_and_an_older_backup_restores(home: Path) -> None:
    data_dir = home / "stack"
    data_dir.mkdir()
    data_dir.chmod(0o711 if is_root() else 0o700)
    run = StackRun(data_dir)
    try:
        run.start()
        old = secrets.master_keys(secrets.read(data_dir))[1][1]
        with httpx.Client(base_url=run.gateway_url, timeout=30) as client:
            members = [sign_up(client, "kept") for _ in range(3)]
            gone = sign_up(client, "gone")
            _erase(client, gone)
            taken = _devstack(run, "backup")
            assert taken.returncode == 0, taken.stderr

            # a first rotation stopped right after it wrote the secrets file
            new_version, retiring, resumed = rotation.prepare(data_dir)
            assert (new_version, retiring, resumed) == (2, (1,), False)
            with _Load(run.gateway_url) as load:
                time.sleep(2)
                began = time.monotonic()
                rotated = _devstack(run, "rotate-master-key", "--batch", "5")
                seconds = time.monotonic() - began
                time.sleep(2)
            assert rotated.returncode == 0, rotated.stderr
            assert "(an interrupted rotation resumed)" in rotated.stdout
            assert "Take a fresh backup now" in rotated.stdout
            print(f"\n{rotated.stdout.splitlines()[0]}\n{len(load.accepted)} sign-ups accepted "
                  f"while the load ran ({seconds:.1f} s of rotation), {len(load.refused)} refused")
            assert load.accepted and not load.refused, load.refused[:3]

            for m in [*members, *load.accepted]:
                _reads_own_data(client, m)
            assert client.post("/v1/sessions", json={
                "email": gone.email, "password": gone.password}).status_code == 401

        kept = secrets.read(data_dir)
        assert secrets.master_keys(kept)[0] == 2
        assert set(secrets.master_keys(kept)[1]) == {2}  # the old key is retired
        assert secrets.PREVIOUS not in kept
        assert base64.b64decode(kept[secrets.PROOF_SEED]) == derive_proof_seed(old)
        rows = asyncio.run(_wrapped_keys(run))
        assert rows and {v for _, _, v in rows} == {2}
        for context, wrapped, _ in rows:  # the old master key opens nothing
            with pytest.raises(DecryptionError):
                KeyWrapper(old).unwrap(wrapped, context)
    finally:
        assert run.stop() == 0, run.tail()

    restored = _devstack(run, "restore")  # the newest backup: taken before the rotation
    assert restored.returncode == 0, restored.stderr
    assert secrets.master_keys(secrets.read(data_dir))[1] == {1: old}
    again = StackRun(data_dir)
    try:
        again.start()
        with httpx.Client(base_url=again.gateway_url, timeout=30) as client:
            for m in members:
                _reads_own_data(client, m)
            assert client.post("/v1/sessions", json={
                "email": gone.email, "password": gone.password}).status_code == 401
    finally:
        assert again.stop() == 0, again.tail()
