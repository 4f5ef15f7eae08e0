"""Field encryption (AES-256-GCM), key wrapping and blind indexes (SEC-1)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_PREFIX = "enc:v1:"  # noqa: S105 - a format marker, not a secret
"""Every encrypted field value starts with this, so plaintext is easy to tell apart."""

_NONCE = 12


class DecryptionError(Exception):
    """A ciphertext did not authenticate under the given key."""


@dataclass(frozen=True, slots=True)
class DataKey:
    """One data subject's unwrapped AES-256-GCM keys.

    ``aead`` is the subject's own key. ``scoped`` holds the subject's live keys of a
    narrower scope, ``"<category>@<period>"`` (MSG-3): a field of an expiring category is
    sealed under the key of its period, which the key store destroys when the period's
    retention ends, while the subject's other data stays readable.
    """

    subject_id: str
    aead: AESGCM | None
    scoped: Mapping[str, AESGCM] = field(default_factory=dict)

    @classmethod
    def from_bytes(
        cls, subject_id: str, raw: bytes, scoped: Mapping[str, bytes] | None = None
    ) -> DataKey:
        """Wrap raw key bytes (and the raw bytes of the subject's scoped keys)."""
        return cls(subject_id, AESGCM(raw), {s: AESGCM(k) for s, k in (scoped or {}).items()})

    @classmethod
    def held(cls, subject_id: str, scoped: Mapping[str, bytes]) -> DataKey:
        """An erased subject's scoped keys kept under a category hold (RET-4): opens only
        the held values; the subject's own key is gone."""
        return cls(subject_id, None, {s: AESGCM(k) for s, k in scoped.items()})

    def seal(self, plaintext: bytes, aad: bytes, scope: str | None = None) -> str:
        """Encrypt ``plaintext`` bound to ``aad``; returns a printable token.

        With ``scope`` the scoped key is used and the token names the scope, so that a
        reader knows which key to ask for (``KeyError`` if the scope's key is absent).
        """
        aead = self.aead if scope is None else self.scoped[scope]
        if aead is None:
            raise KeyError("the subject's own key is destroyed")
        nonce = os.urandom(_NONCE)
        sealed = base64.urlsafe_b64encode(nonce + aead.encrypt(nonce, plaintext, aad)).decode()
        if scope is None:
            return TOKEN_PREFIX + sealed
        return f"{TOKEN_PREFIX}{scope}{_SCOPE_END}{sealed}"

    def open(self, token: str, aad: bytes) -> bytes:
        """Decrypt a token made by :meth:`seal` with the same ``aad``.

        Raises:
            DecryptionError: not a token, tampered with, or its (scoped) key is gone.
        """
        if not token.startswith(TOKEN_PREFIX):
            raise DecryptionError("not an encrypted field")
        scope, body = split_token(token)
        aead = self.aead if scope is None else self.scoped.get(scope)
        if aead is None:
            raise DecryptionError("the key of this scope is destroyed or unknown")
        try:
            raw = binascii.a2b_base64(body.encode().translate(_FROM_URLSAFE))
            return aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad)
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionError("ciphertext does not authenticate") from exc


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
"""URL-safe base64 to the standard alphabet (what ``base64.urlsafe_b64decode`` does,
without its per-call argument checks: one of these per personal field read)."""

_SCOPE_END = "!"
"""Ends the scope inside a scoped token; never part of the URL-safe base64 alphabet."""


def split_token(token: str) -> tuple[str | None, str]:
    """The scope named by a token (``None`` for the subject's own key) and its body."""
    rest = token[len(TOKEN_PREFIX) :]
    scope, sep, body = rest.partition(_SCOPE_END)
    return (scope, body) if sep else (None, rest)


def token_scope(value: object) -> str | None:
    """The scope of a scoped token, or ``None`` (a subject-key token, or not a token)."""
    if not isinstance(value, str) or not value.startswith(TOKEN_PREFIX):
        return None
    return split_token(value)[0]


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
        self._keyed = hmac.new(index_key, digestmod=hashlib.sha256)

    def digest(self, purpose: str, value: str) -> bytes:
        """HMAC-SHA256 of ``value`` under a purpose-separated key."""
        h = self._keyed.copy()  # the key schedule once, not per value
        h.update(f"{purpose}\x00{value}".encode())
        return h.digest()

    def email(self, email: str) -> bytes:
        """Blind index of an e-mail address, case- and space-insensitive."""
        return self.digest("email", email.strip().lower())

    def subject(self, subject_id: str) -> bytes:
        """Keyed hash of a subject id, as kept in the key store and erased register."""
        return self.digest("subject", subject_id)
