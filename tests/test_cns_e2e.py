"""End to end over the gateway: consents take effect in every service's guard (CNS-*, PRV-*).

A withdrawal or a restriction made through the public API reaches the contact guard of
every running service (each from its own projection); unsubscribe links work without a
log-in; visitors' cookie choices are kept; an erased member's guard rows are gone from
every service.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time

import asyncpg
import httpx
import pytest
from members import Member, sign_up, step_up
from stack import Infra, eventually

from contracts.topics import SERVICES
from kernel.crypto import BlindIndex
from kernel.eventstore import EventStore
from kernel.guard import ContactGuard, Verdict, decide
from kernel.keystore import InMemoryKeyStore
from kernel.unsubscribe import unsubscribe_token

pytestmark = pytest.mark.e2e


async def _verdicts(infra: Infra, member: str, purpose: str,
                    channel: str | None) -> dict[str, Verdict]:
    """What each service's guard answers now (read only: no refusal recorded here)."""
    conn = await asyncpg.connect(infra.pg_dsn())
    try:
        out = {}
        for service in SERVICES:
            guard = ContactGuard(conn, EventStore(service, InMemoryKeyStore()))  # type: ignore[arg-type]
            out[service] = decide(await guard.standing(conn, member, purpose, channel), channel)
        return out
    finally:
        await conn.close()


def verdicts(infra: Infra, member: str, purpose: str, channel: str | None) -> dict[str, str]:
    """Each service's verdict as ``allowed`` or the refusal reason."""
    found = asyncio.run(_verdicts(infra, member, purpose, channel))
    return {s: "allowed" if v.allowed else str(v.reason) for s, v in found.items()}


def every(answer: str) -> dict[str, str]:
    """The same verdict from every service."""
    return dict.fromkeys(SERVICES, answer)


def _state(client: httpx.Client, m: Member, purpose: str) -> dict[str, object]:
    body = client.get("/v1/me/consents", headers=m.auth).json()
    return next(p for p in body["purposes"] if p["purpose"] == purpose)


def test_cns_2_cns_7_withdrawal_takes_effect_in_every_service(
    client: httpx.Client, infra: Infra,
) -> None:
    m = sign_up(client, "cns")
    body = client.get("/v1/me/consents", headers=m.auth).json()
    assert {"purposes", "channels"} <= set(body)
    assert all(not p["granted"] for p in body["purposes"] if p["legal_basis"] == "consent")
    granted = client.put("/v1/me/consents/marketing_email", json={"granted": True},
                         headers=m.auth)
    assert granted.status_code == 200, granted.text
    assert {"purpose", "granted", "legal_basis", "statement_version", "updated_at"} <= set(
        granted.json())

    def allowed() -> None:
        assert verdicts(infra, m.account_id, "marketing_email", "email") == every("allowed")

    eventually(allowed, timeout=10)
    withdrawn = client.put("/v1/me/consents/marketing_email", json={"granted": False},
                           headers=m.auth)
    assert withdrawn.json()["granted"] is False

    def refused() -> None:
        assert verdicts(infra, m.account_id, "marketing_email", "email") == every("not_granted")

    eventually(refused, timeout=10)
    assert client.put("/v1/me/consents/service_messages", json={"granted": False},
                      headers=m.auth).status_code == 409
    assert client.get("/v1/me/consents").status_code == 401


def test_prv_6_restricted_member_gets_no_marketing_or_personalisation_from_any_service(
    client: httpx.Client, infra: Infra,
) -> None:
    m = sign_up(client, "restrict")
    client.put("/v1/me/consents/marketing_sms", json={"granted": True}, headers=m.auth)
    resp = client.put("/v1/me/restriction", json={"restricted": True}, headers=m.auth)
    assert resp.status_code == 200 and resp.json() == {"restricted": True}

    def restricted() -> None:
        assert verdicts(infra, m.account_id, "marketing_sms", "sms") == every("restricted")
        assert verdicts(infra, m.account_id, "onsite_personalisation", None) == every(
            "restricted")

    eventually(restricted, timeout=10)
    assert verdicts(infra, m.account_id, "service_messages", "email") == every("allowed")


def test_cns_4_unsubscribe_link_needs_no_log_in(client: httpx.Client, infra: Infra) -> None:
    m = sign_up(client, "unsub")
    client.put("/v1/me/consents/newsletter", json={"granted": True}, headers=m.auth)
    index = BlindIndex(base64.b64decode(os.environ["MARKET_SECRETS_INDEX_KEY"]))
    token = unsubscribe_token(index, m.account_id, "newsletter")
    resp = client.post(f"/v1/unsubscribe/{token}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"purpose": "newsletter", "granted": False}
    assert client.post(f"/v1/unsubscribe/{token}").status_code == 200
    assert client.post(f"/v1/unsubscribe/{token}x").status_code in (404, 422)
    assert _state(client, m, "newsletter")["granted"] is False


def test_cns_8_anonymous_visitor_cookie_choices(client: httpx.Client) -> None:
    chosen = client.put("/v1/cookies", json={"analytics": True, "marketing": False})
    assert chosen.status_code == 200, chosen.text
    visitor = chosen.json()["visitor_id"]
    again = client.get("/v1/cookies", params={"visitor_id": visitor}).json()
    assert again == {"functional": True, "analytics": True, "marketing": False,
                     "visitor_id": visitor}


def test_cns_5_as_of_over_the_gateway(client: httpx.Client) -> None:
    m = sign_up(client, "asof")
    client.put("/v1/me/consents/exact_geolocation", json={"granted": True}, headers=m.auth)
    time.sleep(0.01)
    mid = client.get("/v1/me/consents", headers=m.auth).json()["as_of"]
    client.put("/v1/me/consents/exact_geolocation", json={"granted": False}, headers=m.auth)
    then = client.get("/v1/me/consents", params={"as_of": mid}, headers=m.auth).json()
    geo = next(p for p in then["purposes"] if p["purpose"] == "exact_geolocation")
    assert geo["granted"] is True
    assert [e["action"] for e in then["ledger"]] == ["granted"]


def test_prv_5_erasure_removes_every_services_guard_rows(
    client: httpx.Client, infra: Infra,
) -> None:
    m = sign_up(client, "erasecns")
    client.put("/v1/me/consents/marketing_email", json={"granted": True}, headers=m.auth)
    client.put("/v1/me/restriction", json={"restricted": True}, headers=m.auth)

    async def rows() -> int:
        conn = await asyncpg.connect(infra.pg_dsn())
        try:
            total = 0
            for s in SERVICES:
                for table in ("guard_consents", "guard_restricted", "guard_muted"):
                    total += await conn.fetchval(
                        f"SELECT count(*) FROM {s}.{table} WHERE subject_id = $1", m.account_id)
            return total
        finally:
            await conn.close()

    def held() -> None:
        assert asyncio.run(rows()) == 2 * len(SERVICES)

    eventually(held, timeout=10)
    step_up(client, m)
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=m.auth)
    assert resp.status_code == 202, resp.text
    status = {"Authorization": f"Bearer {resp.json()['status_token']}"}

    def completed() -> None:
        got = client.get(f"/v1/privacy-requests/{resp.json()['request_id']}", headers=status)
        assert got.json()["status"] == "completed"

    eventually(completed, timeout=60)
    assert asyncio.run(rows()) == 0


@pytest.mark.parametrize("kind", ["restriction", "objection"])
def test_prv_4_prv_6_privacy_requests_are_carried_out_by_the_consent_service(
    client: httpx.Client, infra: Infra, kind: str,
) -> None:
    m = sign_up(client, kind[:6])
    step_up(client, m)
    resp = client.post("/v1/privacy-requests", json={"type": kind}, headers=m.auth)
    assert resp.status_code == 202, resp.text
    request_id = resp.json()["request_id"]

    def completed() -> None:
        got = client.get(f"/v1/privacy-requests/{request_id}", headers=m.auth).json()
        assert got["status"] == "completed", got

    eventually(completed, timeout=15)
    body = client.get("/v1/me/consents", headers=m.auth).json()
    li = [p for p in body["purposes"] if p["legal_basis"] == "legitimate_interest"]
    if kind == "restriction":
        assert body["restricted"] is True
        expected = "restricted"
    else:
        assert li and all(p["objected"] and not p["granted"] for p in li)
        expected = "objected"

    def refused() -> None:
        assert verdicts(infra, m.account_id, "onsite_personalisation", None) == every(expected)

    eventually(refused, timeout=10)


def test_cns_7_password_change_notice_is_sent_through_the_guard_without_marketing_consent(
    client: httpx.Client, infra: Infra,
) -> None:
    m = sign_up(client, "pwnote")
    step_up(client, m)
    resp = client.patch("/v1/me", json={"password": "another secret phrase"}, headers=m.auth)
    assert resp.status_code == 200, resp.text
    folder = infra.data_dir / "mail" / m.account_id

    def delivered() -> str:
        files = list(folder.glob("*.email.txt")) if folder.is_dir() else []
        assert files, "no message in the mail catcher yet"
        return files[0].read_text()

    text = eventually(delivered, timeout=15)
    assert f"To: {m.email}" in text and "password" in text
    assert "unsubscribe" not in text.lower()


def test_cns_6_catalogue_and_statement_versions_are_public(client: httpx.Client) -> None:
    body = client.get("/v1/consent-purposes").json()
    assert body["statements"] and all("effective_from" in s for s in body["statements"])
    bases = {p["legal_basis"] for p in body["purposes"]}
    assert bases == {"consent", "contract", "legitimate_interest", "legal_obligation"}
    assert all(set(p["description"]) == {"nl", "en"} for p in body["purposes"])
