"""The accounts internal API against the real PostgreSQL and Kafka (issue 2 and 3)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from accounts.entrypoints.erasure import erase_account
from kernel.service import ServiceHost

pytestmark = pytest.mark.integration


def unique(prefix: str = "t") -> str:
    """A short id unique to this run."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_member(**overrides: Any) -> dict[str, Any]:
    """A valid sign-up body with a unique e-mail and username."""
    tag = unique()
    body: dict[str, Any] = {
        "email": f"{tag}@example.org", "password": "correct horse battery",
        "name": f"Name {tag}", "username": f"user_{tag}", "phone": "+31612345678",
        "address": {"street": f"Street {tag} 1", "postcode": "1011AB", "city": "Amsterdam"},
        "accept_terms_version": "2026-01",
    }
    body.update(overrides)
    return body


async def signed_up(client: httpx.AsyncClient, **overrides: Any) -> tuple[dict[str, Any], str]:
    body = new_member(**overrides)
    resp = await client.post("/internal/accounts", json=body)
    assert resp.status_code == 201, resp.text
    return body, resp.json()["account_id"]


async def logged_in(client: httpx.AsyncClient, body: dict[str, Any],
                    remember_me: bool = False) -> dict[str, Any]:
    resp = await client.post("/internal/sessions", json={
        "email": body["email"], "password": body["password"], "remember_me": remember_me})
    assert resp.status_code == 201, resp.text
    session: dict[str, Any] = resp.json()
    info = await client.post("/internal/sessions/introspect", json={"token": session["token"]})
    assert info.status_code == 200
    return {**session, **info.json()}


async def test_acc_1_sign_up_then_log_in_at_once(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    session = await logged_in(client, body)
    assert session["account_id"] == account_id
    assert datetime.fromisoformat(session["expires_at"]).tzinfo is not None
    me = await client.get(f"/internal/accounts/{account_id}")
    assert me.json()["email"] == body["email"]
    assert me.json()["terms_version"] == "2026-01"


async def test_acc_1_email_taken_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    body, _ = await signed_up(client)
    again = new_member(email=body["email"].upper())
    resp = await client.post("/internal/accounts", json=again)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "email_taken"


async def test_acc_1_current_terms_are_served(client: httpx.AsyncClient) -> None:
    resp = await client.get("/internal/terms")
    assert resp.json() == {"version": "2026-01", "effective_from": "2026-01-01"}
    refused = await client.post("/internal/accounts",
                                json=new_member(accept_terms_version="2025-01"))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "terms_version"


async def test_acc_3_under_sixteen_is_refused_and_nothing_is_kept(
    client: httpx.AsyncClient, accounts_host: ServiceHost, infra: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = new_member(date_of_birth="2015-03-04")
    resp = await client.post("/internal/accounts", json=body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "too_young"
    log_out = capsys.readouterr()
    assert body["username"] not in log_out.out + log_out.err
    rt = accounts_host.runtime
    assert rt is not None
    bi = rt.index.email(body["email"])
    kept = await rt.pool.fetchval("SELECT count(*) FROM accounts.accounts WHERE email_bi=$1", bi)
    assert kept == 0
    assert body["username"] not in await dump_schema(infra.pg_dsn())


def _years_before(today: date, years: int) -> date:
    """The same day ``years`` years before (29 February falls back to 1 March)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return date(today.year - years, 3, 1)


async def test_acc_3_the_service_defaults_refuse_the_day_before_the_sixteenth_birthday(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    """The service as configured by default (no min_age given): a member who turns 16
    tomorrow is refused and nothing is kept; one who turns 16 today is welcome."""
    today = datetime.now(UTC).date()
    sixteen_today = _years_before(today, 16)
    young = new_member(date_of_birth=(sixteen_today + timedelta(days=1)).isoformat())
    resp = await client.post("/internal/accounts", json=young)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "too_young"
    rt = accounts_host.runtime
    assert rt is not None
    kept = await rt.pool.fetchval("SELECT count(*) FROM accounts.accounts WHERE email_bi=$1",
                                  rt.index.email(young["email"]))
    assert kept == 0
    resp = await client.post("/internal/accounts",
                             json=new_member(date_of_birth=sixteen_today.isoformat()))
    assert resp.status_code == 201, resp.text


async def test_acc_3_rectifying_the_birth_date_to_under_sixteen_is_refused(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    """A member cannot rectify their way under the age limit (ACC-3, ACC-8): 422
    ``too_young`` after step-up, and no AccountDetailsChanged is recorded."""
    body, account_id = await signed_up(client, date_of_birth="1990-01-02")
    session = await reauthed(client, body)
    young = _years_before(datetime.now(UTC).date(), 16) + timedelta(days=1)
    resp = await client.patch(f"/internal/accounts/{account_id}",
                              json={"date_of_birth": young.isoformat()},
                              headers={"X-Session-Id": session["session_id"],
                                       "X-Account-Id": account_id})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "too_young"
    rt = accounts_host.runtime
    assert rt is not None
    changed = await rt.pool.fetchval(
        "SELECT count(*) FROM accounts.events WHERE stream_id = $1 AND event_type = $2",
        f"account-{account_id}", "accounts.AccountDetailsChanged")
    assert changed == 0
    recorded = await rt.pool.fetchval("SELECT count(*) FROM accounts.events WHERE "
                                      "stream_id = $1", f"account-{account_id}")
    assert recorded >= 2  # the stream is there: registered and stepped up
    me = (await client.get(f"/internal/accounts/{account_id}",
                           headers={"X-Account-Id": account_id})).json()
    assert me["date_of_birth"] == "1990-01-02"


async def test_acc_4_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    body, _ = await signed_up(client)
    resp = await client.post("/internal/sessions", json={
        "email": body["email"], "password": "wrong password", "remember_me": False})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_credentials"


async def test_acc_4_remember_me_gives_thirty_days_else_twelve_hours(
    client: httpx.AsyncClient,
) -> None:
    body, _ = await signed_up(client)
    long = await logged_in(client, body, remember_me=True)
    short = await logged_in(client, body, remember_me=False)
    now = datetime.now(datetime.fromisoformat(long["expires_at"]).tzinfo)
    assert (datetime.fromisoformat(long["expires_at"]) - now).days in (29, 30)
    assert (datetime.fromisoformat(short["expires_at"]) - now).total_seconds() <= 12 * 3600
    assert long["remember_me"] is True and short["remember_me"] is False


async def test_acc_4_logout_ends_the_token_at_once(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    session = await logged_in(client, body)
    resp = await client.delete(f"/internal/sessions/{session['session_id']}",
                               headers={"X-Account-Id": account_id})
    assert resp.status_code == 204
    dead = await client.post("/internal/sessions/introspect", json={"token": session["token"]})
    assert dead.status_code == 401


async def test_acc_4_changes_need_step_up_and_reauth_opens_it(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    session = await logged_in(client, body, remember_me=True)
    headers = {"X-Session-Id": session["session_id"]}
    refused = await client.patch(f"/internal/accounts/{account_id}", json={"name": "New"},
                                 headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauth_required"
    wrong = await client.post(f"/internal/sessions/{session['session_id']}/reauth",
                              json={"password": "nope nope"})
    assert wrong.status_code == 401
    ok = await client.post(f"/internal/sessions/{session['session_id']}/reauth",
                           json={"password": body["password"]})
    assert ok.status_code == 204
    info = await client.post("/internal/sessions/introspect", json={"token": session["token"]})
    assert info.json()["step_up_until"] is not None
    changed = await client.patch(f"/internal/accounts/{account_id}", json={"name": "New"},
                                 headers=headers)
    assert changed.status_code == 200
    assert changed.json()["name"] == "New"


async def reauthed(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    session = await logged_in(client, body)
    resp = await client.post(f"/internal/sessions/{session['session_id']}/reauth",
                             json={"password": body["password"]})
    assert resp.status_code == 204
    return session


async def test_acc_2_optional_attributes_stored_when_given_and_null_removes(
    client: httpx.AsyncClient,
) -> None:
    body, account_id = await signed_up(client, gender="x", interests=["chess"],
                                       date_of_birth="1990-01-02")
    me = (await client.get(f"/internal/accounts/{account_id}")).json()
    assert (me["gender"], me["interests"], me["date_of_birth"]) == ("x", ["chess"], "1990-01-02")
    session = await reauthed(client, body)
    resp = await client.patch(f"/internal/accounts/{account_id}",
                              json={"gender": None, "date_of_birth": None, "phone": None},
                              headers={"X-Session-Id": session["session_id"]})
    assert resp.status_code == 200
    me = resp.json()
    assert me["gender"] is None and me["date_of_birth"] is None and me["phone"] is None


async def test_acc_8_email_change_moves_the_login(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    session = await reauthed(client, body)
    new_email = f"{unique()}@example.org"
    resp = await client.patch(f"/internal/accounts/{account_id}", json={"email": new_email},
                              headers={"X-Session-Id": session["session_id"]})
    assert resp.status_code == 200
    await logged_in(client, {**body, "email": new_email})
    old = await client.post("/internal/sessions", json={
        "email": body["email"], "password": body["password"], "remember_me": False})
    assert old.status_code == 401


async def test_acc_8_password_change_ends_other_sessions(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    other = await logged_in(client, body)
    session = await reauthed(client, body)
    resp = await client.patch(f"/internal/accounts/{account_id}",
                              json={"password": "a brand new secret"},
                              headers={"X-Session-Id": session["session_id"]})
    assert resp.status_code == 200
    gone = await client.post("/internal/sessions/introspect", json={"token": other["token"]})
    assert gone.status_code == 401
    kept = await client.post("/internal/sessions/introspect", json={"token": session["token"]})
    assert kept.status_code == 200
    await logged_in(client, {**body, "password": "a brand new secret"})


async def test_acc_5_devices_are_registered_listed_and_removed(client: httpx.AsyncClient) -> None:
    _, account_id = await signed_up(client)
    _, stranger = await signed_up(client)
    resp = await client.post(f"/internal/accounts/{account_id}/devices", json={
        "device_id": "dev-1", "device_type": "ios", "push_token": "apns-token-1"})
    assert resp.status_code == 201
    reg = resp.json()["id"]
    items = (await client.get(f"/internal/accounts/{account_id}/devices")).json()["items"]
    assert [(d["id"], d["push_token"]) for d in items] == [(reg, "apns-token-1")]
    theirs = await client.delete(f"/internal/accounts/{stranger}/devices/{reg}")
    assert theirs.status_code == 404
    mine = await client.delete(f"/internal/accounts/{account_id}/devices/{reg}")
    assert mine.status_code == 204
    assert (await client.get(f"/internal/accounts/{account_id}/devices")).json()["items"] == []


async def test_acc_6_social_identity_link_records_the_grant(client: httpx.AsyncClient) -> None:
    _, account_id = await signed_up(client)
    resp = await client.post(f"/internal/accounts/{account_id}/social-identities", json={
        "provider": "google", "provider_subject": unique("g"), "granted_scopes": ["profile"],
        "profile": {"name": "Imported Name", "email": "not-imported@example.org"}})
    assert resp.status_code == 201
    assert resp.json()["imported"] == {"name": "Imported Name"}
    items = (await client.get(
        f"/internal/accounts/{account_id}/social-identities")).json()["items"]
    assert items[0]["granted_scopes"] == ["profile"]
    link = resp.json()["link_id"]
    gone = await client.delete(f"/internal/accounts/{account_id}/social-identities/{link}")
    assert gone.status_code == 204


async def test_acc_7_identity_verification_status(client: httpx.AsyncClient) -> None:
    _, account_id = await signed_up(client)
    none = await client.get(f"/internal/accounts/{account_id}/identity-verification")
    assert none.json() == {"status": "none"}
    resp = await client.put(f"/internal/accounts/{account_id}/identity-verification", json={
        "status": "verified", "method": "idin", "evidence_ref": "ev-123"})
    assert resp.status_code == 200
    got = await client.get(f"/internal/accounts/{account_id}/identity-verification")
    assert got.json()["status"] == "verified"


async def test_acc_9_closure_revokes_sessions_and_shows_pseudonym(
    client: httpx.AsyncClient,
) -> None:
    body, account_id = await signed_up(client)
    session = await reauthed(client, body)
    public = (await client.get(f"/internal/accounts/{account_id}/public")).json()
    assert public["username"] == body["username"]
    resp = await client.post(f"/internal/accounts/{account_id}/closure",
                             headers={"X-Session-Id": session["session_id"]})
    assert resp.status_code == 204
    dead = await client.post("/internal/sessions/introspect", json={"token": session["token"]})
    assert dead.status_code == 401
    public = (await client.get(f"/internal/accounts/{account_id}/public")).json()
    assert public["username"].startswith("member-")
    login = await client.post("/internal/sessions", json={
        "email": body["email"], "password": body["password"], "remember_me": False})
    assert login.status_code == 401


async def test_acc_10_real_name_shown_only_when_chosen(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    assert "name" not in (await client.get(f"/internal/accounts/{account_id}/public")).json()
    session = await reauthed(client, body)
    await client.patch(f"/internal/accounts/{account_id}", json={"show_real_name": True},
                       headers={"X-Session-Id": session["session_id"]})
    public = (await client.get(f"/internal/accounts/{account_id}/public")).json()
    assert public["name"] == body["name"]


async def test_acc_11_misuse_report_revokes_every_session(client: httpx.AsyncClient) -> None:
    body, account_id = await signed_up(client)
    sessions = [await logged_in(client, body) for _ in range(2)]
    resp = await client.post(f"/internal/accounts/{account_id}/misuse-reports", json={})
    assert resp.status_code == 202
    assert resp.json()["sessions_revoked"] == 2
    for s in sessions:
        check = await client.post("/internal/sessions/introspect", json={"token": s["token"]})
        assert check.status_code == 401


async def test_brute_force_five_failures_then_429_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    body, _ = await signed_up(client)
    wrong = {"email": body["email"], "password": "wrong wrong", "remember_me": False}
    for _ in range(5):
        assert (await client.post("/internal/sessions", json=wrong)).status_code == 401
    blocked = await client.post("/internal/sessions", json={**wrong, "password": body["password"]})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


async def dump_schema(dsn: str) -> str:
    """Every row of every table of schema ``accounts``, as text."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'accounts'"
        )
        parts = []
        for t in tables:
            rows = await conn.fetch(
                f'SELECT t::text AS r FROM accounts."{t["table_name"]}" t'
            )
            parts.extend(r["r"] for r in rows)
            rows = await conn.fetch(
                f'SELECT encode(convert_to(t::text, \'UTF8\'), \'escape\') AS r '
                f'FROM accounts."{t["table_name"]}" t'
            )
            parts.extend(r["r"] for r in rows)
        events = await conn.fetch("SELECT convert_from(payload, 'UTF8') AS p FROM accounts.events")
        parts.extend(e["p"] for e in events)
        return "\n".join(parts)
    finally:
        await conn.close()


async def test_sec_1_no_plaintext_personal_data_in_the_accounts_schema(
    client: httpx.AsyncClient, infra: Any,
) -> None:
    body, account_id = await signed_up(client, gender="nonbinary", interests=["origami"])
    await client.post(f"/internal/accounts/{account_id}/devices", json={
        "device_id": "hw-secret-id", "device_type": "android", "push_token": "fcm-secret-tok"})
    await logged_in(client, body)
    text = await dump_schema(infra.pg_dsn())
    assert account_id in text  # the dump really holds this account's rows
    for value in (body["email"], body["name"], body["username"], body["phone"],
                  body["address"]["street"], "nonbinary", "origami", "hw-secret-id",
                  "fcm-secret-tok", "argon2"):
        assert value not in text, value


async def test_acc_1_events_reach_the_accounts_topic_encrypted(
    client: httpx.AsyncClient, infra: Any,
) -> None:
    body, account_id = await signed_up(client)
    await logged_in(client, body)
    consumer = AIOKafkaConsumer(
        "accounts.events.v1", bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(20):
            while {"accounts.AccountRegistered", "accounts.SessionStarted"} - set(seen):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        env = orjson.loads(rec.value)
                        if env["subject_id"] == account_id:
                            assert rec.key == account_id.encode()
                            seen[env["event_type"]] = env
    finally:
        await consumer.stop()
    payload = seen["accounts.AccountRegistered"]["payload"]
    assert payload["email"].startswith("enc:v1:")
    assert body["email"].encode() not in orjson.dumps(seen)


async def test_prv_5_erased_member_cannot_log_in_and_nothing_is_left(
    client: httpx.AsyncClient, accounts_host: ServiceHost,
) -> None:
    body, account_id = await signed_up(client)
    session = await logged_in(client, body)
    await client.post(f"/internal/accounts/{account_id}/devices", json={
        "device_id": "d", "device_type": "web", "push_token": "t"})
    rt = accounts_host.runtime
    assert rt is not None
    await rt.keys.destroy(account_id)  # retention shreds the key first
    async with rt.pool.acquire() as conn, conn.transaction():
        held, detail = await erase_account(rt, conn, account_id)
    assert held and "accounts: 1" in detail
    async with rt.pool.acquire() as conn:
        for table in ("accounts", "sessions", "devices", "social_identities"):
            left = await conn.fetchval(
                f"SELECT count(*) FROM accounts.{table} WHERE account_id = $1",
                account_id,
            )
            assert left == 0, table
        stream = await rt.store.read_stream(conn, f"account-{account_id}")
    assert stream[-1].event_type == "accounts.AccountErased"
    login = await client.post("/internal/sessions", json={
        "email": body["email"], "password": body["password"], "remember_me": False})
    assert login.status_code == 401
    dead = await client.post("/internal/sessions/introspect", json={"token": session["token"]})
    assert dead.status_code == 401
    assert (await client.get(f"/internal/accounts/{account_id}")).status_code == 404
    async with rt.pool.acquire() as conn, conn.transaction():
        assert await erase_account(rt, conn, account_id) == (False, "no account data held")
