"""Signed internal calls (issue 11): what the gateway vouches for cannot be altered or reused."""

from __future__ import annotations

import pytest

from kernel.internal_auth import CallSigner, CallVerifier, InternalCallError

pytestmark = pytest.mark.unit

KEY = b"k" * 32
NOW = 1_800_000_000.0
IDENTITY = {"X-Account-Id": "alice", "X-Session-Id": "s1"}


def signed(**overrides: object) -> dict[str, object]:
    call: dict[str, object] = {"method": "POST", "target": b"/internal/x?a=1",
                               "body": b'{"v": 1}', "headers": dict(IDENTITY)}
    signer = CallSigner(KEY, ttl=30, clock=lambda: NOW)
    call["signature"] = signer.sign(call["method"], call["target"], call["body"],  # type: ignore[arg-type]
                                    call["headers"])  # type: ignore[arg-type]
    call.update(overrides)
    return call


def verify(call: dict[str, object], verifier: CallVerifier | None = None,
           now: float = NOW) -> None:
    verifier = verifier or CallVerifier(KEY, 30, clock=lambda: now)
    headers = [(k.lower().encode(), v.encode())
               for k, v in call["headers"].items()]  # type: ignore[attr-defined]
    verifier.verify(call["method"], call["target"], call["body"],  # type: ignore[arg-type]
                    call["signature"], headers)  # type: ignore[arg-type]


def test_a_signed_call_is_accepted() -> None:
    verify(signed())


@pytest.mark.parametrize("change", [
    {"method": "DELETE"},
    {"target": b"/internal/y?a=1"},
    {"target": b"/internal/x?a=2"},
    {"body": b'{"v": 2}'},
    {"headers": {"X-Account-Id": "mallory", "X-Session-Id": "s1"}},
    {"headers": {"X-Account-Id": "alice"}},
    {"headers": {**IDENTITY, "X-Step-Up-Until": "2099-01-01T00:00:00+00:00"}},
])
def test_any_change_to_a_covered_part_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(InternalCallError) as refused:
        verify(signed(**change))
    assert refused.value.code == "bad_signature"


def test_a_signature_under_another_key_is_refused() -> None:
    with pytest.raises(InternalCallError, match="does not match"):
        verify(signed(), CallVerifier(b"o" * 32, 30, clock=lambda: NOW))


def test_a_stale_call_is_refused() -> None:
    with pytest.raises(InternalCallError) as refused:
        verify(signed(), now=NOW + 31)
    assert refused.value.code == "signature_expired"


def test_a_signature_valid_too_far_ahead_is_refused() -> None:
    with pytest.raises(InternalCallError, match="expired"):
        verify(signed(), now=NOW - 3600)


def test_a_replayed_call_is_refused() -> None:
    verifier = CallVerifier(KEY, 30, clock=lambda: NOW)
    call = signed()
    verify(call, verifier)
    with pytest.raises(InternalCallError) as refused:
        verify(call, verifier)
    assert refused.value.code == "signature_replayed"


@pytest.mark.parametrize("garbage", ["", "v1", "v1.x.y.z", "v2.1.n.m", "a.b.c.d.e"])
def test_a_malformed_signature_is_refused(garbage: str) -> None:
    with pytest.raises(InternalCallError):
        verify(signed(signature=garbage))


def test_a_repeated_identity_header_is_refused() -> None:
    call = signed()
    verifier = CallVerifier(KEY, 30, clock=lambda: NOW)
    headers = [(b"x-account-id", b"alice"), (b"x-account-id", b"mallory"),
               (b"x-session-id", b"s1")]
    with pytest.raises(InternalCallError, match="repeated"):
        verifier.verify("POST", b"/internal/x?a=1", b'{"v": 1}',
                        call["signature"], headers)  # type: ignore[arg-type]
