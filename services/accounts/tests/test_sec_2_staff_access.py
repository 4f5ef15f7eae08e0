"""SEC-2 staff access against the real PostgreSQL and Kafka: roles, logged reads, access log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from accounts.domain.staff import CATEGORY_FIELDS, Role
from accounts.entrypoints.erasure import erase_account
from accounts.service_layer.context import Context
from accounts.service_layer.staff import GrantRole, grant_role
from contracts.personal import DataCategory
from kernel.service import ServiceHost

pytestmark = pytest.mark.integration

C = DataCategory
MAY_READ: dict[Role, set[DataCategory]] = {
    Role.SUPPORT: {C.IDENTITY, C.CONTACT},
    Role.TRUST_AND_SAFETY: {C.IDENTITY, C.CONTACT, C.SECURITY},
    Role.DPO: {C.IDENTITY, C.CONTACT, C.DEMOGRAPHICS, C.DEVICE, C.SECURITY},
    Role.AUDITOR: set(),
    Role.OPS: set(),
}
ACCESS = "accounts.StaffAccessedPersonalData"


def unique(prefix: str = "t") -> str:
    """A short id unique to this run."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def ctx_of(host: ServiceHost) -> Context:
    """The running service's handler context."""
    assert host.runtime is not None
    ctx: Context = host.runtime.extra["ctx"]
    return ctx


async def sign_up(client: httpx.AsyncClient, **extra: Any) -> tuple[dict[str, Any], str]:
    """A new account with every optional attribute; its sign-up body and id."""
    tag = unique()
    body: dict[str, Any] = {
        "email": f"{tag}@example.org", "password": "correct horse battery",
        "name": f"Name {tag}", "username": f"user_{tag}", "phone": "+31612345678",
        "address": {"street": f"Street {tag} 1", "postcode": "1011AB", "city": "Amsterdam"},
        "date_of_birth": "1990-02-03", "gender": f"g{tag}", "interests": [f"i{tag}"],
        "accept_terms_version": "2026-01", **extra,
    }
    resp = await client.post("/internal/accounts", json=body)
    assert resp.status_code == 201, resp.text
    return body, resp.json()["account_id"]


async def log_in(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """A session of the account (token and session id)."""
    resp = await client.post("/internal/sessions", json={
        "email": body["email"], "password": body["password"], "remember_me": False})
    assert resp.status_code == 201, resp.text
    session: dict[str, Any] = resp.json()
    return session


async def staff_with(client: httpx.AsyncClient, host: ServiceHost, *roles: Role) -> str:
    """A new account holding ``roles`` (granted the way the command line does)."""
    _, account_id = await sign_up(client)
    for role in roles:
        await grant_role(GrantRole(account_id, role, None), ctx_of(host))
    return account_id


async def stepped_up_dpo(client: httpx.AsyncClient, host: ServiceHost) -> dict[str, str]:
    """Headers of a DPO inside the step-up window."""
    body, account_id = await sign_up(client)
    await grant_role(GrantRole(account_id, Role.DPO, None), ctx_of(host))
    session = await log_in(client, body)
    ok = await client.post(f"/internal/sessions/{session['session_id']}/reauth",
                           json={"password": body["password"]})
    assert ok.status_code == 204
    return {"X-Account-Id": account_id, "X-Session-Id": session["session_id"]}


async def member_with_everything(client: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    """A member with a device, a social link, a session and a misuse report."""
    body, account_id = await sign_up(client)
    await client.post(f"/internal/accounts/{account_id}/devices", json={
        "device_id": f"dev-{account_id}", "device_type": "ios", "push_token": "tok-secret"})
    await client.post(f"/internal/accounts/{account_id}/social-identities", json={
        "provider": "google", "provider_subject": unique("g"), "granted_scopes": ["profile"],
        "profile": {"name": body["name"]}})
    await log_in(client, body)
    await client.post(f"/internal/accounts/{account_id}/misuse-reports",
                      json={"note": "someone in Utrecht used it"})
    return body, account_id


async def access_events(host: ServiceHost, subject_id: str) -> list[dict[str, Any]]:
    """The stored access events about ``subject_id``, oldest first (payload decoded)."""
    assert host.runtime is not None
    rows = await host.runtime.pool.fetch(
        "SELECT stream_id, payload FROM accounts.events WHERE event_type = $1 "
        "AND subject_id = $2 ORDER BY position", ACCESS, subject_id,
    )
    return [{"stream_id": r["stream_id"], **orjson.loads(r["payload"])} for r in rows]


def read(client: httpx.AsyncClient, staff_id: str, subject_id: str,
         **params: Any) -> Any:
    """``GET /internal/staff/accounts/{subject_id}`` as ``staff_id``."""
    params.setdefault("purpose", "support_request")
    return client.get(f"/internal/staff/accounts/{subject_id}", params=params,
                      headers={"X-Account-Id": staff_id})


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
async def test_sec_2_each_role_reads_exactly_what_it_may_and_each_read_is_one_event(
    client: httpx.AsyncClient, accounts_host: ServiceHost, role: Role,
) -> None:
    body, member = await member_with_everything(client)
    staff_id = await staff_with(client, accounts_host, role)
    allowed = MAY_READ[role]

    resp = await read(client, staff_id, member, reference="CASE-1")
    if not allowed:
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "forbidden"
        assert await access_events(accounts_host, member) == []
        return
    assert resp.status_code == 200, resp.text
    view = resp.json()
    expected_fields = sorted(f for c in allowed for f in CATEGORY_FIELDS[c])
    assert sorted(view["data"]) == expected_fields
    assert view["role"] == role.value and view["account_id"] == member
    assert sorted(view["categories"]) == sorted(c.value for c in allowed)
    if C.CONTACT in allowed:
        assert view["data"]["email"] == body["email"]
    if C.DEMOGRAPHICS in allowed:
        assert view["data"]["gender"] == body["gender"]
    if C.SECURITY in allowed:
        notes = [e.get("note") for e in view["data"]["security_events"]]
        assert "someone in Utrecht used it" in notes
        assert "argon2" not in resp.text
    [event] = await access_events(accounts_host, member)
    assert event["stream_id"] == f"staff-{staff_id}"
    assert (event["staff_account_id"], event["role"], event["subject_id"]) == (
        staff_id, role.value, member)
    assert (event["purpose"], event["reference"]) == ("support_request", "CASE-1")
    assert event["fields"] == expected_fields and event["access_id"] == view["access_id"]

    beyond = set(C) - allowed - {C.LOCATION, C.USAGE, C.MESSAGES, C.LISTINGS,
                                 C.APPLICATIONS, C.CALL_TRACKING, C.CONSENT, C.DISPUTES}
    for category in beyond:
        refused = await read(client, staff_id, member, categories=category.value)
        assert refused.status_code == 403, category
        assert refused.json()["error"]["code"] == "forbidden"
    assert len(await access_events(accounts_host, member)) == 1


async def test_sec_2_a_narrower_read_shows_and_logs_only_the_categories_asked(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    _, member = await sign_up(client)
    dpo = await staff_with(client, accounts_host, Role.DPO)
    resp = await read(client, dpo, member, categories="contact", purpose="privacy_request")
    assert resp.status_code == 200
    assert sorted(resp.json()["data"]) == ["address", "email", "phone"]
    [event] = await access_events(accounts_host, member)
    assert event["categories"] == ["contact"] and event["role"] == "dpo"


async def test_sec_2_members_without_a_role_are_forbidden_and_anonymous_callers_401(
    client: httpx.AsyncClient,
) -> None:
    _, member = await sign_up(client)
    _, other = await sign_up(client)
    as_member = {"X-Account-Id": other}
    for resp in (
        await read(client, other, member),
        await client.get("/internal/staff/access-log", headers=as_member),
        await client.get("/internal/staff/roles", headers=as_member),
        await client.post("/internal/staff/roles", headers=as_member,
                          json={"account_id": other, "role": "dpo"}),
        await client.delete(f"/internal/staff/roles/{member}/support", headers=as_member),
    ):
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "forbidden"
    me = await client.get("/internal/staff/me", headers=as_member)
    assert me.json() == {"account_id": other, "roles": [], "permissions": []}
    anonymous = await client.get(f"/internal/staff/accounts/{member}",
                                 params={"purpose": "support_request"})
    assert anonymous.status_code == 401


async def test_sec_2_a_read_needs_a_purpose_code_and_a_clean_reference(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    _, member = await sign_up(client)
    support = await staff_with(client, accounts_host, Role.SUPPORT)
    headers = {"X-Account-Id": support}
    url = f"/internal/staff/accounts/{member}"
    assert (await client.get(url, headers=headers)).status_code == 422
    assert (await client.get(url, headers=headers,
                             params={"purpose": "curiosity"})).status_code == 422
    assert (await read(client, support, member,
                       reference="jane.doe@example.org")).status_code == 422
    assert (await read(client, support, member, categories="nonsense")).status_code == 422
    assert await access_events(accounts_host, member) == []


async def test_sec_2_unknown_or_erased_members_are_404_and_nothing_is_logged(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    dpo = await staff_with(client, accounts_host, Role.DPO)
    unknown = str(uuid.uuid4())
    assert (await read(client, dpo, unknown)).status_code == 404
    _, member = await sign_up(client)
    rt = accounts_host.runtime
    assert rt is not None
    await rt.keys.destroy(member)
    async with rt.pool.acquire() as conn, conn.transaction():
        await erase_account(rt, conn, member)
    resp = await read(client, dpo, member)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert await access_events(accounts_host, unknown) == []
    assert await access_events(accounts_host, member) == []


async def test_sec_2_dpo_grants_and_revokes_roles_in_a_step_up_window(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    dpo = await stepped_up_dpo(client, accounts_host)
    _, member = await sign_up(client)
    _, agent = await sign_up(client)
    grant = {"account_id": agent, "role": "support"}

    resp = await client.post("/internal/staff/roles", json=grant, headers=dpo)
    assert resp.status_code == 201, resp.text
    assert resp.json()["roles"] == ["support"]
    assert (await client.post("/internal/staff/roles", json=grant,
                              headers=dpo)).status_code == 200
    assert (await read(client, agent, member)).status_code == 200

    roles = (await client.get("/internal/staff/roles", headers=dpo)).json()["items"]
    assert {"account_id": agent, "role": "support", "granted_by": dpo["X-Account-Id"]} in [
        {k: r[k] for k in ("account_id", "role", "granted_by")} for r in roles]

    gone = await client.delete(f"/internal/staff/roles/{agent}/support", headers=dpo)
    assert gone.status_code == 204
    refused = await read(client, agent, member)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    again = await client.delete(f"/internal/staff/roles/{agent}/support", headers=dpo)
    assert again.status_code == 404

    rt = accounts_host.runtime
    assert rt is not None
    rows = await rt.pool.fetch(
        "SELECT event_type, subject_id FROM accounts.events WHERE stream_id = $1 "
        "ORDER BY version", f"staff-{agent}")
    assert [r["event_type"] for r in rows] == [
        "accounts.StaffRoleGranted", ACCESS, "accounts.StaffRoleRevoked"]
    assert [r["subject_id"] for r in rows] == [agent, member, agent]


async def test_sec_2_granting_needs_step_up_and_an_active_account(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    body, dpo = await sign_up(client)
    await grant_role(GrantRole(dpo, Role.DPO, None), ctx_of(accounts_host))
    session = await log_in(client, body)
    headers = {"X-Account-Id": dpo, "X-Session-Id": session["session_id"]}
    _, agent = await sign_up(client)
    resp = await client.post("/internal/staff/roles", headers=headers,
                             json={"account_id": agent, "role": "auditor"})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "reauth_required"
    stepped = await stepped_up_dpo(client, accounts_host)
    missing = await client.post("/internal/staff/roles", headers=stepped,
                                json={"account_id": str(uuid.uuid4()), "role": "auditor"})
    assert missing.status_code == 404
    bad_role = await client.post("/internal/staff/roles", headers=stepped,
                                 json={"account_id": agent, "role": "admin"})
    assert bad_role.status_code == 422


async def test_sec_2_access_log_lists_reads_without_personal_values(
    client: httpx.AsyncClient, accounts_host: ServiceHost, infra: Any,
) -> None:
    body, member = await member_with_everything(client)
    support = await staff_with(client, accounts_host, Role.SUPPORT)
    tns = await staff_with(client, accounts_host, Role.TRUST_AND_SAFETY)
    assert (await read(client, support, member, reference="T-1")).status_code == 200
    assert (await read(client, tns, member, purpose="fraud_investigation")).status_code == 200

    for role in (Role.DPO, Role.AUDITOR):
        reader = await staff_with(client, accounts_host, role)
        resp = await client.get("/internal/staff/access-log", params={"subject_id": member},
                                headers={"X-Account-Id": reader})
        assert resp.status_code == 200, resp.text
        items = resp.json()["items"]
        assert [(i["staff_account_id"], i["role"], i["purpose"]) for i in items] == [
            (tns, "trust_and_safety", "fraud_investigation"),
            (support, "support", "support_request"),
        ]
        assert "email" in items[1]["fields"]
        for value in (body["email"], body["name"], body["username"], body["phone"],
                      body["address"]["street"], "someone in Utrecht"):
            assert value not in resp.text
    for role in (Role.SUPPORT, Role.TRUST_AND_SAFETY, Role.OPS):
        other = await staff_with(client, accounts_host, role)
        refused = await client.get("/internal/staff/access-log",
                                   headers={"X-Account-Id": other})
        assert refused.status_code == 403

    rt = accounts_host.runtime
    assert rt is not None
    rows = await rt.pool.fetch(
        "SELECT t::text AS r FROM accounts.staff_access_log t WHERE subject_id = $1", member)
    stored = "\n".join(r["r"] for r in rows)
    payloads = await rt.pool.fetch(
        "SELECT convert_from(payload, 'UTF8') AS p FROM accounts.events "
        "WHERE event_type = $1 AND subject_id = $2", ACCESS, member)
    stored += "\n".join(p["p"] for p in payloads)
    assert len(rows) == 2 and len(payloads) == 2
    for value in (body["email"], body["name"], body["username"], body["phone"],
                  "tok-secret", "Utrecht"):
        assert value not in stored


async def test_sec_2_access_events_reach_the_accounts_topic(
    client: httpx.AsyncClient, accounts_host: ServiceHost, infra: Any,
) -> None:
    body, member = await sign_up(client)
    support = await staff_with(client, accounts_host, Role.SUPPORT)
    ids = [(await read(client, support, member)).json()["access_id"] for _ in range(2)]
    consumer = AIOKafkaConsumer(
        "accounts.events.v1", bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[str, bytes] = {}
    try:
        async with asyncio.timeout(20):
            while set(ids) - set(seen):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        env = orjson.loads(rec.value)
                        if env["event_type"] == ACCESS and env["subject_id"] == member:
                            assert rec.key == member.encode()
                            seen[env["payload"]["access_id"]] = rec.value
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(ids)
    for raw in seen.values():
        assert body["email"].encode() not in raw and body["name"].encode() not in raw


async def test_sec_2_first_dpo_is_granted_from_the_command_line(
    client: httpx.AsyncClient, infra: Any,
) -> None:
    body, account_id = await sign_up(client)
    env = {**os.environ, **infra.env}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "accounts", "grant-role", "--email", body["email"],
         "--role", "dpo"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert account_id in done.stdout and body["email"] not in done.stdout + done.stderr
    me = await client.get("/internal/staff/me", headers={"X-Account-Id": account_id})
    assert me.json()["roles"] == ["dpo"]
    assert "manage:roles" in me.json()["permissions"]
    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "accounts", "grant-role", "--email",
         f"{unique()}@example.org", "--role", "dpo"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert missing.returncode == 1
