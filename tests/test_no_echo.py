"""Issue 11, API.md "Errors say what, never echo": a 422 names fields, never their values.

Invalid bodies carrying distinctive values go through the gateway and straight to a
service (signed); no answer and no line of any service's log holds one of them.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
from stack import Platform

from kernel.internal_auth import SignedCalls

pytestmark = pytest.mark.e2e


def _marker() -> str:
    return "v" + secrets.token_hex(6)


def _invalid_bodies() -> list[tuple[str, str, object, list[str]]]:
    """(method, path, body, the submitted values that must not come back)."""
    pw, email, name, dob, user = _marker(), _marker(), _marker(), _marker(), _marker()
    street, remember = _marker(), _marker()
    return [
        ("POST", "/v1/accounts", {
            "email": f"not-an-address-{email}", "password": pw[:5], "name": f"N {name}",
            "username": f"bad user {user}!", "date_of_birth": f"2001-13-{dob}",
            "address": {"street": f"S {street}", "postcode": "", "city": "x", "zz": 1},
            "accept_terms_version": "2026-01"},
         [email, pw[:5], name, user, dob, street]),
        ("POST", "/v1/sessions", {"email": f"{email}@example.org", "password": pw,
                                  "remember_me": f"maybe-{remember}"},
         [email, pw, remember]),
        ("POST", "/v1/sessions", f'{{"email": "{email}@x.nl", "password": "{pw}", ',
         [email, pw]),
    ]


def test_a_422_names_the_fields_and_never_repeats_a_value(
    client: httpx.Client, platform: Platform
) -> None:
    sent: list[str] = []
    for method, path, body, values in _invalid_bodies():
        if isinstance(body, str):
            resp = client.request(method, path, content=body,
                                  headers={"content-type": "application/json"})
        else:
            resp = client.request(method, path, json=body)
        assert resp.status_code == 422, resp.text
        answer = resp.json()
        assert answer["error"]["code"] == "invalid_request"
        assert answer["detail"] and all(set(d) == {"loc", "msg", "type"}
                                        for d in answer["detail"])
        for value in values:
            assert value not in resp.text, (path, value)
        sent += values
    fields = {tuple(d["loc"]) for d in client.post("/v1/accounts", json={
        "email": "x", "password": "y"}).json()["detail"]}
    assert ("body", "email") in fields and ("body", "password") in fields

    direct = _marker()
    resp = httpx.post(f"{platform.service_urls['accounts']}/internal/accounts",
                      json={"email": direct, "password": 12},
                      auth=SignedCalls("accounts"))
    assert resp.status_code == 422 and direct not in resp.text
    sent.append(direct)

    logs = "".join(platform.log_tail(name, 100_000) for name in platform.service_urls)
    assert logs, "the services wrote no log"
    leaked = [value for value in sent if value in logs]
    assert not leaked, f"submitted values in the service logs: {leaked}"
