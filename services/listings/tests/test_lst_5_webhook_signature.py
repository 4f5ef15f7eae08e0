"""The telephony provider's signature on call reports (LST-5): only its reports are believed."""

from __future__ import annotations

import pytest

from listings.domain.webhook import SignatureRefused, WebhookPolicy, signature, verify

pytestmark = pytest.mark.unit

SECRET = b"provider-secret"
POLICY = WebhookPolicy(SECRET, window_seconds=300)
NUMBER = "+3197012345678"
BODY = b'{"caller": "+31611112222", "duration_seconds": 42}'
NOW = 1_767_225_600


def refused(timestamp: str | None, signed: str | None, number: str = NUMBER,
            body: bytes = BODY, policy: WebhookPolicy = POLICY) -> str:
    with pytest.raises(SignatureRefused) as caught:
        verify(policy, timestamp, signed, number, body, NOW)
    assert caught.value.status == 401
    return caught.value.code


def test_lst5_a_report_signed_with_the_providers_secret_passes() -> None:
    signed = signature(SECRET, str(NOW - 10), NUMBER, BODY)
    assert signed.startswith("v1=") and len(signed) == 3 + 64
    assert verify(POLICY, str(NOW - 10), signed, NUMBER, BODY, NOW) == signed


def test_lst5_an_unsigned_report_is_refused_as_missing() -> None:
    assert refused(None, None) == "signature_missing"
    assert refused(str(NOW), None) == "signature_missing"
    assert refused(None, signature(SECRET, str(NOW), NUMBER, BODY)) == "signature_missing"


def test_lst5_a_report_signed_otherwise_is_refused_as_invalid() -> None:
    ts = str(NOW)
    assert refused(ts, signature(b"another secret", ts, NUMBER, BODY)) == "signature_invalid"
    signed = signature(SECRET, ts, NUMBER, BODY)
    assert refused(ts, signed, body=BODY.replace(b"42", b"43")) == "signature_invalid"
    assert refused(ts, signed, number="+3197000000000") == "signature_invalid"
    assert refused(str(NOW + 1), signed) == "signature_invalid"
    assert refused(ts, "v1=" + "0" * 64) == "signature_invalid"
    assert refused(ts, signed, policy=WebhookPolicy(None)) == "signature_invalid"


def test_lst5_a_report_outside_the_window_is_refused_as_expired() -> None:
    for ts in (str(NOW - 301), str(NOW + 301)):
        assert refused(ts, signature(SECRET, ts, NUMBER, BODY)) == "signature_expired"
    edge = str(NOW - 300)
    assert verify(POLICY, edge, signature(SECRET, edge, NUMBER, BODY), NUMBER, BODY, NOW)
