"""The erasure proof's signature (PRV-5, RET-5): stable key, checkable, tamper-evident."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from retention.adapters.proofs import signing_key
from retention.domain.proof import build_proof, key_id, public_key_b64, sign, verify

pytestmark = pytest.mark.unit

T = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


def test_ret5_proof_verifies_with_the_public_key_and_names_no_subject() -> None:
    master = os.urandom(32)
    key = signing_key(master)
    assert key_id(signing_key(master).public_key()) == key_id(key.public_key())
    proof = build_proof("req-1", "subject-1", T, T, T, [("accounts", T), ("consent", None)],
                        key_id(key.public_key()))
    assert "subject-1" not in str(proof)
    signature = sign(proof, key)
    public = public_key_b64(key.public_key())
    assert verify(proof, signature, public)
    assert not verify({**proof, "request_id": "req-2"}, signature, public)
    assert not verify(proof, signature, public_key_b64(signing_key(os.urandom(32)).public_key()))
    assert not verify(proof, "not base64!", public)
