"""The signed proof of an erasure (PRV-5, RET-5): no personal data, verifiable for ever.

The proof names the request, a digest of the subject's id (never the id), when the key
was destroyed, when each service confirmed, and the request's end. It is signed with
Ed25519; anyone holding the platform's published public key can check it, long after the
subject and every key of theirs are gone.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PROOF_FORMAT = "marketplace.erasure-proof"
PROOF_VERSION = 1


def subject_digest(subject_id: str) -> str:
    """SHA-256 of the subject's id: who holds the id can match it; the proof does not say it."""
    return hashlib.sha256(subject_id.encode()).hexdigest()


def canonical(proof: dict[str, Any]) -> bytes:
    """The bytes signed: JSON with sorted keys and no spaces."""
    return orjson.dumps(proof, option=orjson.OPT_SORT_KEYS)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def public_key_b64(public: Ed25519PublicKey) -> str:
    """The raw public key, base64."""
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def build_proof(request_id: str, subject_id: str, received_at: datetime,
                key_destroyed_at: datetime, completed_at: datetime,
                receipts: Sequence[tuple[str, datetime | None]], signer: str,
                kept: Sequence[str] = ()) -> dict[str, Any]:
    """The proof's statement (what is signed); ``kept`` names the categories whose keys a
    legal hold kept (RET-4), a lawful exception the proof states (never their values)."""
    statement: dict[str, Any] = {
        "format": PROOF_FORMAT, "format_version": PROOF_VERSION, "request_id": request_id,
        "subject_sha256": subject_digest(subject_id),
        "requested_at": received_at.isoformat(),
        "key_destroyed_at": key_destroyed_at.isoformat(),
        "completed_at": completed_at.isoformat(),
        "receipts": [{"service": s, "confirmed_at": at.isoformat() if at else None}
                     for s, at in receipts],
        "key_id": signer,
    }
    if kept:
        statement["kept_under_legal_hold"] = sorted(kept)
    return statement


def sign(proof: dict[str, Any], key: Ed25519PrivateKey) -> str:
    """The Ed25519 signature of the proof, base64."""
    return base64.b64encode(key.sign(canonical(proof))).decode()


def verify(proof: dict[str, Any], signature: str, public_key: str) -> bool:
    """Whether ``signature`` is the platform's over exactly ``proof``."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        pub.verify(base64.b64decode(signature, validate=True), canonical(proof))
    except (InvalidSignature, ValueError):
        return False
    return True
