"""One-click unsubscribe tokens (CNS-4): one member, one purpose, signed with the index key.

Any service can mint one for a marketing message it sends (the key is the platform's
index key); the consent service checks it. A token altered in any byte, or made for
another member or purpose, does not verify.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from kernel.crypto import BlindIndex

_LABEL = "unsubscribe-token"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(index: BlindIndex, subject_id: str, purpose: str) -> str:
    """A URL-safe token naming ``subject_id`` and ``purpose``."""
    body = f"{subject_id}\n{purpose}"
    return f"{_b64(body.encode())}.{_b64(index.digest(_LABEL, body)[:18])}"


def read_unsubscribe_token(index: BlindIndex, token: str) -> tuple[str, str] | None:
    """``(subject_id, purpose)`` of a genuine token; ``None`` for anything else."""
    try:
        body_text, mac_text = token.split(".")
        body = _unb64(body_text).decode()
        mac = _unb64(mac_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(index.digest(_LABEL, body)[:18], mac):
        return None
    subject_id, _, purpose = body.partition("\n")
    if not subject_id or not purpose:
        return None
    return subject_id, purpose
