"""One-click unsubscribe: one member, one purpose, no log-in, idempotent (CNS-4)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from kernel.unsubscribe import read_unsubscribe_token, unsubscribe_token

pytestmark = pytest.mark.integration


def _forge(token: str, subject_id: str, purpose: str) -> str:
    """The token's signature over another member or purpose."""
    body = base64.urlsafe_b64encode(f"{subject_id}\n{purpose}".encode()).rstrip(b"=").decode()
    return f"{body}.{token.split('.')[1]}"


async def _granted(client: httpx.AsyncClient, h: dict[str, str], purpose: str) -> bool:
    view = (await client.get("/internal/consents", headers=h)).json()
    return bool(next(p for p in view["purposes"] if p["purpose"] == purpose)["granted"])


async def test_cns_4_unsubscribe_token_withdraws_its_purpose_once_and_nothing_else(
    client: httpx.AsyncClient, h: dict[str, str], rt: Any,
) -> None:
    member = h["X-Account-Id"]
    other = {"X-Account-Id": member + "-other"}
    for headers in (h, other):
        for purpose in ("marketing_email", "marketing_sms"):
            await client.put(f"/internal/consents/{purpose}", json={"granted": True},
                             headers=headers)
    token = unsubscribe_token(rt.index, member, "marketing_email")
    assert read_unsubscribe_token(rt.index, token) == (member, "marketing_email")

    done = await client.post(f"/internal/unsubscribe/{token}")  # no identity headers
    assert done.status_code == 200
    assert done.json() == {"purpose": "marketing_email", "granted": False}
    again = await client.post(f"/internal/unsubscribe/{token}")
    assert again.status_code == 200 and again.json()["granted"] is False
    view = (await client.get("/internal/consents", params={"as_of": "2999-01-01T00:00:00Z"},
                             headers=h)).json()
    sources = [(e["purpose"], e["action"], e["source"]) for e in view["ledger"]]
    assert sources.count(("marketing_email", "withdrawn", "unsubscribe_link")) == 1

    # Neither another purpose nor another member can be reached with it.
    for forged in (_forge(token, member, "marketing_sms"),
                   _forge(token, other["X-Account-Id"], "marketing_email")):
        refused = await client.post(f"/internal/unsubscribe/{forged}")
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"
    assert await _granted(client, h, "marketing_sms")
    assert await _granted(client, other, "marketing_email")

    # A tampered signature or garbage fails the same way, with no hint.
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (tampered, "garbage", "a.b.c"):
        resp = await client.post(f"/internal/unsubscribe/{bad}")
        assert resp.status_code == 404
        assert resp.json()["error"]["message"] == "no such unsubscribe link"


async def test_cns_4_a_contract_purpose_cannot_be_unsubscribed(
    client: httpx.AsyncClient, h: dict[str, str], rt: Any,
) -> None:
    token = unsubscribe_token(rt.index, h["X-Account-Id"], "service_messages")
    assert (await client.post(f"/internal/unsubscribe/{token}")).status_code == 404
