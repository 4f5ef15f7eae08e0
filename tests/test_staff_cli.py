"""The operator's staff command (issue 34, SEC-2): ``marketplace-staff`` run as a user runs it.

It reads the stack's secrets from ``<data dir>/secrets.env`` (no ``MARKET_SECRETS_*`` in
its environment), grants, lists and revokes roles as the API does (the same events), and
answers every refusal with one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from members import sign_up
from stack import Platform

from devstack.testing import eventually

pytestmark = [pytest.mark.e2e]

SCRIPT = Path(sys.executable).with_name("marketplace-staff")


def staff(platform: Platform, *args: str, data_dir: Path | None = None
          ) -> subprocess.CompletedProcess[str]:
    """The console script, with the stack's non-secret settings and no secrets at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_SECRETS_")}
    env.update({k: v for k, v in platform.env.items()
                if k.startswith("MARKET_PG_") and not k.startswith("MARKET_SECRETS_")})
    env.pop("MARKET_DATA_DIR", None)
    where = platform.stack.data_dir if data_dir is None else data_dir
    return subprocess.run([str(SCRIPT), "--data-dir", str(where), *args],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal prints."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


async def _role_events(platform: Platform, account_id: str) -> list[tuple[str, dict[str, object]]]:
    conn = await asyncpg.connect(platform.stack.postgres.dsn("marketplace"))
    try:
        rows = await conn.fetch(
            "SELECT event_type, payload FROM accounts.events WHERE stream_id = $1 "
            "AND event_type LIKE 'accounts.StaffRole%' ORDER BY version", f"staff-{account_id}")
    finally:
        await conn.close()
    return [(r["event_type"], orjson.loads(r["payload"])) for r in rows]


def test_sec_2_operator_grants_lists_and_revokes_roles_from_the_stack_secrets(
    platform: Platform, client: httpx.Client,
) -> None:
    m = sign_up(client, "dpo")
    assert client.get("/v1/staff/legal-holds", headers=m.auth).status_code == 403

    done = staff(platform, "grant", "--email", m.email, "--role", "dpo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"granted dpo to account {m.account_id}"

    def served(path: str) -> None:
        assert client.get(path, headers=m.auth).status_code == 200

    # retention learns the role from the accounts event (API.md: within 5 seconds)
    eventually(lambda: served("/v1/staff/legal-holds"), timeout=15)
    eventually(lambda: served("/v1/staff/privacy-requests"), timeout=15)

    assert staff(platform, "grant", "--email", m.email, "--role", "support").returncode == 0
    listed = staff(platform, "list")
    assert listed.returncode == 0, listed.stderr
    mine = {line.split("\t")[1] for line in listed.stdout.splitlines()
            if line.startswith(m.account_id + "\t")}
    assert mine == {"dpo", "support"}

    done = staff(platform, "revoke", "--email", m.email, "--role", "support")
    assert done.returncode == 0, done.stderr
    listed = staff(platform, "list")
    assert [line.split("\t")[1] for line in listed.stdout.splitlines()
            if line.startswith(m.account_id + "\t")] == ["dpo"]

    events = asyncio.run(_role_events(platform, m.account_id))
    assert [t for t, _ in events] == ["accounts.StaffRoleGranted", "accounts.StaffRoleGranted",
                                      "accounts.StaffRoleRevoked"], events
    assert all(p.get("granted_by", p.get("revoked_by")) is None for _, p in events), events


def test_sec_2_staff_command_refusals_are_one_line(platform: Platform, tmp_path: Path) -> None:
    line = refused(staff(platform, "list", data_dir=tmp_path))
    assert "MARKET_SECRETS_MASTER_KEY" in line and "secrets.env" in line
    line = refused(staff(platform, "grant", "--email", "nobody@example.nl", "--role", "dpo"))
    assert line.endswith("no active account with that e-mail address")
    line = refused(staff(platform, "revoke", "--email", "nobody@example.nl", "--role", "ops"))
    assert line.endswith("no active account with that e-mail address")
    line = refused(staff(platform, "grant", "--email", "x@example.nl", "--role", "boss"))
    assert "unknown role 'boss'" in line and "dpo" in line
