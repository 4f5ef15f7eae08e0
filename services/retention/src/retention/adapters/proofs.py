"""Erasure proofs at rest, and the platform's proof-signing key (PRV-5, RET-5)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.settings import derive_proof_seed


def signing_key(master_key: bytes) -> Ed25519PrivateKey:
    """The proof-signing key, derived from the platform's master key (HKDF, own label).

    Every retention replica derives the same key; the master key never signs anything.
    """
    return Ed25519PrivateKey.from_private_bytes(derive_proof_seed(master_key))


async def keep(conn: asyncpg.Connection, request_id: str, proof: dict[str, Any],
               signature: str) -> None:
    """Store a proof (once)."""
    await conn.execute("INSERT INTO retention.erasure_proofs VALUES ($1, $2::jsonb, $3) "
                       "ON CONFLICT DO NOTHING", request_id, orjson.dumps(proof).decode(),
                       signature)


async def get(conn: asyncpg.Connection, request_id: str) -> tuple[dict[str, Any], str] | None:
    """A request's proof and signature, if issued."""
    row = await conn.fetchrow("SELECT proof, signature FROM retention.erasure_proofs "
                              "WHERE request_id = $1", request_id)
    if row is None:
        return None
    proof = row["proof"]
    return (orjson.loads(proof) if isinstance(proof, str) else proof), row["signature"]
