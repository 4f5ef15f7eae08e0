"""Issue 26, finding 6 (LST-5): on the running platform, only a call report the telephony
provider signed reaches an owner's call log, and only once.

Each service is its own process; the listings service has the provider's secret the
devstack generated, the gateway does not need it and passes body and headers on unchanged.
"""

from __future__ import annotations

import time

import httpx
import pytest
from members import sign_up
from stack import Platform

from devstack.testing import eventually
from listings.domain.webhook import signature

pytestmark = pytest.mark.e2e


def test_lst5_unsigned_wrongly_signed_stale_and_replayed_reports_record_no_call(
    client: httpx.Client, platform: Platform,
) -> None:
    owner = sign_up(client, "caller")

    def posted() -> str:
        made = client.post("/v1/listings", headers=owner.auth, json={
            "kind": "ad", "title": "Schilder", "description": "Binnen en buiten",
            "location": {"city": "Utrecht"}, "phone": owner.phone})
        assert made.status_code == 201, made.text
        return str(made.json()["listing_id"])

    listing_id = eventually(posted, timeout=20)
    number = client.get(f"/v1/listings/{listing_id}").json()["phone"]
    secret = platform.env["LISTINGS_TELEPHONY_SECRET"].encode()
    # Not what orjson would write: the signature covers these bytes, spaces and all.
    raw = b'{ "duration_seconds": 31,  "caller": "+31633334444" }'

    def send(headers: dict[str, str]) -> httpx.Response:
        return client.post(f"/v1/call-tracking/{number}/calls", content=raw,
                           headers={"content-type": "application/json", **headers})

    def signed(key: bytes, at: float) -> dict[str, str]:
        ts = str(int(at))
        return {"X-Telephony-Timestamp": ts,
                "X-Telephony-Signature": signature(key, ts, number, raw)}

    refused = {
        "signature_missing": send({}),
        "signature_invalid": send(signed(b"a guess", time.time())),
        "signature_expired": send(signed(secret, time.time() - 3600)),
    }
    for code, resp in refused.items():
        assert (resp.status_code, resp.json()["error"]["code"]) == (401, code), resp.text
    valid = signed(secret, time.time())
    accepted = send(valid)
    assert accepted.status_code == 201, accepted.text
    replayed = send(valid)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (
        401, "signature_replayed")
    calls = client.get(f"/v1/listings/{listing_id}/calls", headers=owner.auth).json()["items"]
    assert [c["duration_seconds"] for c in calls] == [31]
