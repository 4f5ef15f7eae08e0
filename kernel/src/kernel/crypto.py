"""Field encryption (AES-256-GCM), key wrapping and blind indexes (SEC-1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_PREFIX = "enc:v1:"  # noqa: S105 - a format marker, not a secret
"""Every encrypted field value starts with this, so plaintext is easy to tell apart."""

_NONCE = 12


class DecryptionError(Exception):
    """A ciphertext did not authenticate under the given key."""


@dataclass(frozen=True, slots=True)
class DataKey:
    """One data subject's unwrapped AES-256-GCM key."""

    subject_id: str
    aead: AESGCM

    @classmethod
    def from_bytes(cls, subject_id: str, raw: bytes) -> DataKey:
        """Wrap raw key bytes."""
        return cls(subject_id, AESGCM(raw))

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt ``plaintext`` bound to ``aad``; returns a printable token."""
        nonce = os.urandom(_NONCE)
        sealed = self.aead.encrypt(nonce, plaintext, aad)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, aad: bytes) -> bytes:
        """Decrypt a token made by :meth:`seal` with the same ``aad``."""
        if not token.startswith(TOKEN_PREFIX):
            raise DecryptionError("not an encrypted field")
        raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :])
        try:
            return self.aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not authenticate") from exc


def is_token(value: object) -> bool:
    """Whether ``value`` is an encrypted field token."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


class KeyWrapper:
    """Wraps data keys under the master key (key-encryption key)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._kek = AESGCM(master_key)

    @staticmethod
    def new_data_key() -> bytes:
        """Fresh random key material for one subject."""
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, raw: bytes, context: bytes) -> bytes:
        """Encrypt a data key, bound to ``context`` (the subject's keyed hash)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._kek.encrypt(nonce, raw, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Decrypt a wrapped data key."""
        try:
            return self._kek.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], context)
        except InvalidTag as exc:
            raise DecryptionError("wrapped key does not authenticate (wrong master key?)") from exc


class BlindIndex:
    """Keyed HMACs of personal values, for lookups without plaintext at rest."""

    def __init__(self, index_key: bytes) -> None:
        if len(index_key) != 32:
            raise ValueError("index key must be 32 bytes")
        self._key = index_key

    def digest(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` under a purpose-separated key."""
        msg = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def email(self, email: str) -> bytes:
        """Blind index of an e-mail address, case- and space-insensitive."""
        return self.digest("email", email.strip().lower())

    def subject(self, subject_id: str) -> bytes:
        """Keyed hash of a subject id, as kept in the key store and erased register."""
        return self.digest("subject", subject_id)
