"""Legal hold and the finished erasure over the gateway (RET-4, PRV-5, RET-5, SEC-3).

A held member's erasure waits, naming the hold in its ``exceptions``, and runs once the
last hold is released; an open dispute holds the same way until it closes. A completed
erasure has a signed proof anyone can check with the platform's public key.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import orjson
import pytest
from members import Member, post_listing, sign_up, step_up
from stack import Infra, Platform, eventually
from stored_keys import opened
from test_e2e_erasure import _audit
from test_privacy_register import grant

from contracts.personal import ERASED
from contracts.privacy import ERASURE_SERVICES
from retention.domain.proof import verify

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def staff(client: httpx.Client, platform: Platform) -> dict[str, Member]:
    """A DPO and a trust-and-safety agent, known to retention and messaging."""
    dpo, tns = sign_up(client, "dpo"), sign_up(client, "tns")
    grant(platform, dpo, "dpo")
    grant(platform, tns, "trust_and_safety")

    def known() -> None:
        for m in (dpo, tns):
            resp = client.get("/v1/staff/legal-holds", headers=m.auth)
            assert resp.status_code == 200, resp.text
        resp = client.get("/v1/staff/disputes", headers=tns.auth,
                          params={"purpose": "abuse_report"})
        assert resp.status_code == 200, resp.text

    eventually(known, timeout=45)
    return {"dpo": dpo, "tns": tns}


def erase(client: httpx.Client, m: Member) -> dict[str, str]:
    step_up(client, m)
    resp = client.post("/v1/privacy-requests", json={"type": "erasure"}, headers=m.auth)
    assert resp.status_code == 202, resp.text
    body: dict[str, str] = resp.json()
    return body


def state(client: httpx.Client, req: dict[str, str]) -> dict[str, Any]:
    resp = client.get(f"/v1/privacy-requests/{req['request_id']}",
                      headers={"Authorization": f"Bearer {req['status_token']}"})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def completes(client: httpx.Client, req: dict[str, str],
              exceptions: bool = False) -> dict[str, Any]:
    """The erasure, once completed with every receipt (and no exceptions, unless told)."""

    def done() -> dict[str, Any]:
        got = state(client, req)
        assert got["status"] == "completed", got
        return got

    got = eventually(done, timeout=30, interval=0.2)
    assert {r["service"] for r in got["receipts"]} == set(ERASURE_SERVICES)
    assert bool(got["exceptions"]) is exceptions
    return got


def test_ret4_held_member_is_not_erased_and_the_answer_says_why_until_release(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    m = sign_up(client, "held")
    resp = client.post("/v1/staff/legal-holds", headers=staff["dpo"].auth, json={
        "subject_id": m.account_id, "reason": "fraud investigation",
        "authority": "public prosecutor", "case_reference": "OM-2026/77"})
    assert resp.status_code == 201, resp.text
    hold = resp.json()
    assert hold["placed_by"] == staff["dpo"].account_id and hold["released_at"] is None

    req = erase(client, m)
    got = state(client, req)
    assert got["status"] == "verified" and got["receipts"] == []
    [exc] = got["exceptions"]
    assert exc["kind"] == "legal_hold" and exc["hold_id"] == hold["hold_id"]
    assert exc["case_reference"] == "OM-2026/77" and exc["authority"] == "public prosecutor"
    # The data stays: the member's account still reads whole.
    me = client.get("/v1/me", headers=m.auth)
    assert me.status_code == 200 and me.json()["email"] == m.email

    listed = client.get("/v1/staff/legal-holds", headers=staff["tns"].auth,
                        params={"subject_id": m.account_id}).json()["items"]
    assert [h["hold_id"] for h in listed] == [hold["hold_id"]]

    url = f"/v1/staff/legal-holds/{hold['hold_id']}/release"
    released = client.post(url, headers=staff["dpo"].auth)
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert client.post(url, headers=staff["dpo"].auth).status_code == 404
    completes(client, req)
    assert client.get("/v1/me", headers=m.auth).status_code == 401


def test_ret4_sec3_an_open_dispute_holds_erasure_until_it_closes(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    m = sign_up(client, "disp")
    resp = client.post("/v1/staff/disputes", headers=staff["tns"].auth, json={
        "account_id": m.account_id, "source": "bank", "reference": "BANK-991"})
    assert resp.status_code == 201, resp.text
    dispute_id = resp.json()["dispute_id"]

    def held() -> dict[str, Any]:
        items = client.get("/v1/staff/legal-holds", headers=staff["dpo"].auth,
                           params={"subject_id": m.account_id}).json()["items"]
        assert [h["hold_id"] for h in items] == [f"dispute-{dispute_id}"], items
        item: dict[str, Any] = items[0]
        return item

    hold = eventually(held, timeout=20)
    assert hold["placed_by"] == "dispute" and hold["case_reference"] == "BANK-991"
    req = erase(client, m)
    got = state(client, req)
    assert got["status"] == "verified"
    assert [e["hold_id"] for e in got["exceptions"]] == [f"dispute-{dispute_id}"]
    closed = client.post(f"/v1/staff/disputes/{dispute_id}/close", headers=staff["tns"].auth,
                         json={"resolution": "rejected"})
    assert closed.status_code == 200, closed.text
    completes(client, req)


def test_ret4_only_dpo_and_trust_and_safety_place_holds_and_bad_input_is_named(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    m = sign_up(client, "m")
    body = {"subject_id": m.account_id, "reason": "court order", "authority": "court",
            "case_reference": "C-1"}
    denied = client.post("/v1/staff/legal-holds", headers=m.auth, json=body)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert client.get("/v1/staff/legal-holds", headers=m.auth).status_code == 403
    secret = f"{m.email} case"
    bad = client.post("/v1/staff/legal-holds", headers=staff["dpo"].auth,
                      json={**body, "case_reference": secret})
    assert bad.status_code == 422 and m.email not in bad.text
    by_category = client.post("/v1/staff/legal-holds", headers=staff["tns"].auth,
                              json={**body, "category": "messages"})
    assert by_category.status_code == 201 and by_category.json()["category"] == "messages"
    release = f"/v1/staff/legal-holds/{by_category.json()['hold_id']}/release"
    assert client.post(release, headers=m.auth).status_code == 403
    assert client.post(release, headers=staff["tns"].auth).status_code == 200


def test_prv5_ret5_completed_erasure_has_a_signed_proof_without_personal_data(
    client: httpx.Client,
) -> None:
    m = sign_up(client, "proof")
    req = erase(client, m)
    got = completes(client, req)
    resp = client.get(f"/v1/privacy-requests/{req['request_id']}/proof",
                      headers={"Authorization": f"Bearer {req['status_token']}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    key = client.get("/v1/erasure-proof-key").json()
    assert key["algorithm"] == "Ed25519" and body["proof"]["key_id"] == key["key_id"]
    assert verify(body["proof"], body["signature"], key["public_key"])
    proof = body["proof"]
    assert proof["request_id"] == req["request_id"]
    assert proof["subject_sha256"] == hashlib.sha256(m.account_id.encode()).hexdigest()
    assert {r["service"] for r in proof["receipts"]} == {r["service"] for r in got["receipts"]}
    assert all(r["confirmed_at"] for r in proof["receipts"])
    text = resp.text
    for value in [m.account_id, *m.personal_values()]:
        assert value not in text
    forged = {**proof, "completed_at": "2020-01-01T00:00:00+00:00"}
    assert not verify(forged, body["signature"], key["public_key"])
    # Nobody else reads it.
    other = sign_up(client, "other")
    assert client.get(f"/v1/privacy-requests/{req['request_id']}/proof",
                      headers=other.auth).status_code == 404


def test_ret4_prv5_a_category_hold_keeps_that_category_and_the_erasure_goes_ahead(
    client: httpx.Client, staff: dict[str, Member], infra: Infra, platform: Platform,
) -> None:
    """A hold on one category sealed under keys of its own (the member's listings) does not
    keep the rest of the member: the erasure completes with every receipt, names the hold
    in its exceptions and its signed proof, and the held values stay readable in the log
    with the kept keys only; releasing the hold destroys those keys too."""
    m = sign_up(client, "heldcat")
    listing_id = post_listing(client, m, "Bewijsstuk", "Een kast met een verhaal")
    resp = client.post("/v1/staff/legal-holds", headers=staff["dpo"].auth, json={
        "subject_id": m.account_id, "category": "listings", "reason": "fraud investigation",
        "authority": "public prosecutor", "case_reference": "OM-2026/78"})
    assert resp.status_code == 201, resp.text
    hold = resp.json()

    req = erase(client, m)
    [exc] = completes(client, req, exceptions=True)["exceptions"]
    assert exc["hold_id"] == hold["hold_id"] and exc["category"] == "listings"
    assert client.get("/v1/me", headers=m.auth).status_code == 401
    proof = client.get(f"/v1/privacy-requests/{req['request_id']}/proof",
                       headers={"Authorization": f"Bearer {req['status_token']}"}).json()
    assert proof["proof"]["kept_under_legal_hold"] == ["listings"]

    sql = ("SELECT event_type, schema_version, event_id, payload FROM listings.events "
           "WHERE stream_id = $1 AND event_type = 'listings.ListingCreated' UNION ALL "
           "SELECT event_type, schema_version, event_id, payload FROM accounts.events "
           "WHERE stream_id = $2 AND event_type = 'accounts.AccountRegistered'")
    args = (f"listing-{listing_id}", f"account-{m.account_id}")
    kept = asyncio.run(opened(infra, m.account_id, sql, *args, held=True))
    assert kept["listings.ListingCreated"]["title"] == "Bewijsstuk"  # the hold's reader
    assert kept["accounts.AccountRegistered"]["email"] == ERASED  # the rest is gone
    services = asyncio.run(opened(infra, m.account_id, sql, *args))
    assert services["listings.ListingCreated"]["title"] == ERASED  # no service reads it
    replay = _audit(platform, "replay", "--subject", m.account_id)  # as the auditor reads it
    assert replay.returncode == 0, replay.stderr.decode()
    shown = orjson.loads(replay.stdout)
    assert shown["subjects"][m.account_id]["erased"] is True
    payloads = {ev["event_type"]: ev["payload"] for streams in shown["services"].values()
                for st in streams.values() for ev in st.get("events", [])}
    assert payloads["listings.ListingCreated"]["title"] == "Bewijsstuk"
    assert payloads["accounts.AccountRegistered"]["email"] == "erased"

    url = f"/v1/staff/legal-holds/{hold['hold_id']}/release"
    assert client.post(url, headers=staff["dpo"].auth).status_code == 200
    after = asyncio.run(opened(infra, m.account_id, sql, *args, held=True))
    assert after["listings.ListingCreated"]["title"] == ERASED
    assert state(client, req)["exceptions"] == []


def test_ret4_a_hold_on_a_category_under_the_subjects_own_key_keeps_the_erasure_waiting(
    client: httpx.Client, staff: dict[str, Member],
) -> None:
    """Consent records are sealed under the member's own key: holding them holds the whole
    erasure back (erasing the rest would destroy them too), and the answer says so."""
    m = sign_up(client, "heldcns")
    resp = client.post("/v1/staff/legal-holds", headers=staff["dpo"].auth, json={
        "subject_id": m.account_id, "category": "consent_records", "reason": "complaint",
        "authority": "Autoriteit Persoonsgegevens", "case_reference": "AP-2026/5"})
    assert resp.status_code == 201, resp.text
    req = erase(client, m)
    got = state(client, req)
    assert got["status"] == "verified"
    assert [e["category"] for e in got["exceptions"]] == ["consent_records"]
    assert client.get("/v1/me", headers=m.auth).status_code == 200
    url = f"/v1/staff/legal-holds/{resp.json()['hold_id']}/release"
    assert client.post(url, headers=staff["dpo"].auth).status_code == 200
    completes(client, req)
