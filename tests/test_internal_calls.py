"""Issues 11, 26: internal APIs are not trusted by network position (SEC-2, SEC-4).

Against the real service processes: every route of every service but liveness,
readiness and metrics refuses an unsigned call with 401; a tampered, expired or
replayed call is refused too, and so is a call signed for another service or replayed
after the service restarted; the gateway's own signed forwarding still works.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from members import sign_up
from stack import Platform

from devstack.services import BACKENDS
from kernel.internal_auth import SIGNATURE_HEADER, CallSigner, SignedCalls

pytestmark = pytest.mark.e2e


def _routes(base: str, service: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{base}/openapi.json", auth=SignedCalls(service)).json()
    found = []
    for path, ops in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        found += [(method.upper(), concrete) for method in ops]
    return found


@pytest.mark.parametrize("service", BACKENDS)
def test_every_internal_route_refuses_an_unsigned_call(
    platform: Platform, service: str
) -> None:
    base = platform.service_urls[service]
    assert httpx.get(f"{base}/openapi.json").status_code == 401
    routes = _routes(base, service)
    if service in ("accounts", "retention"):
        assert len(routes) > 3, f"{service} lists too few routes"
    for method, path in [*routes, ("GET", "/internal/no-such-route")]:
        resp = httpx.request(method, base + path, json={},
                             headers={"X-Account-Id": str(uuid.uuid4())})
        assert resp.status_code == 401, (service, method, path, resp.text)
        assert resp.json()["error"]["code"] == "unsigned"
    for open_path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(base + open_path).status_code == 200


def test_a_member_read_needs_the_gateways_signature(
    client: httpx.Client, platform: Platform
) -> None:
    member = sign_up(client, "sig")
    url = f"{platform.service_urls['accounts']}/internal/accounts/{member.account_id}"
    unsigned = httpx.get(url)
    assert unsigned.status_code == 401
    assert member.email not in unsigned.text
    signed = httpx.get(url, auth=SignedCalls("accounts"),
                       headers={"X-Account-Id": member.account_id})
    assert signed.status_code == 200
    assert signed.json()["email"] == member.email
    for caller in ("", str(uuid.uuid4())):  # issue 26: the signed caller, not the path
        other = httpx.get(url, auth=SignedCalls("accounts"), headers={"X-Account-Id": caller})
        assert other.status_code == 404
        assert member.email not in other.text
    assert client.get("/v1/me", headers=member.auth).status_code == 200


def test_a_tampered_expired_or_replayed_call_is_refused(
    client: httpx.Client, platform: Platform
) -> None:
    alice, mallory = sign_up(client, "alice"), sign_up(client, "mallory")
    base = platform.service_urls["accounts"]
    signer = CallSigner.from_env()
    target = f"/internal/accounts/{alice.account_id}"
    headers = {"X-Account-Id": mallory.account_id}
    signature = signer.sign("GET", target, b"", headers, service="accounts")

    tampered = httpx.get(base + target, headers={
        "X-Account-Id": alice.account_id, SIGNATURE_HEADER: signature})
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (401, "bad_signature")

    other_path = f"/internal/accounts/{mallory.account_id}"
    moved = httpx.get(base + other_path, headers={**headers, SIGNATURE_HEADER: signature})
    assert moved.status_code == 401

    stale = CallSigner(signer._key, ttl=30, clock=lambda: time.time() - 120)
    expired = httpx.get(base + target, headers={
        **headers, SIGNATURE_HEADER: stale.sign("GET", target, b"", headers,
                                                    service="accounts")})
    assert (expired.status_code, expired.json()["error"]["code"]) == (401, "signature_expired")

    once = signer.sign("GET", other_path, b"", headers, service="accounts")
    first = httpx.get(base + other_path, headers={**headers, SIGNATURE_HEADER: once})
    assert first.status_code == 200
    replayed = httpx.get(base + other_path, headers={**headers, SIGNATURE_HEADER: once})
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (401, "signature_replayed")

    body = b'{"reason": "x"}'
    posted = signer.sign("POST", "/internal/sessions/introspect", body, {},
                         service="accounts")
    swapped = httpx.post(base + "/internal/sessions/introspect", content=b'{"token": "t"}',
                         headers={SIGNATURE_HEADER: posted, "content-type": "application/json"})
    assert swapped.status_code == 401


def test_a_call_signed_for_accounts_is_refused_by_listings(platform: Platform) -> None:
    """Every service holds the same key: the signature names the one it is meant for."""
    signer = CallSigner.from_env()
    for_accounts = signer.sign("GET", "/openapi.json", b"", {}, service="accounts")
    sent = httpx.get(platform.service_urls["listings"] + "/openapi.json",
                     headers={SIGNATURE_HEADER: for_accounts})
    assert (sent.status_code, sent.json()["error"]["code"]) == (401, "wrong_service")
    right = signer.sign("GET", "/openapi.json", b"", {}, service="listings")
    assert httpx.get(platform.service_urls["listings"] + "/openapi.json",
                     headers={SIGNATURE_HEADER: right}).status_code == 200


def test_a_call_replayed_after_the_service_restarted_is_refused(
    client: httpx.Client, platform: Platform
) -> None:
    """The nonces are kept in the service's schema, not in the process: a captured call
    is refused by a restarted process (and by any other replica) while it is valid."""
    member = sign_up(client, "restart")
    base = platform.service_urls["consent"]
    target = "/internal/consents"
    headers = {"X-Account-Id": member.account_id}
    captured = {**headers, SIGNATURE_HEADER: CallSigner.from_env().sign(
        "GET", target, b"", headers, service="consent")}
    assert httpx.get(base + target, headers=captured).status_code == 200
    platform.restart("consent")
    replayed = httpx.get(base + target, headers=captured)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (401, "signature_replayed")
