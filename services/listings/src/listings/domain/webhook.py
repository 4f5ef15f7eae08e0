"""The telephony provider's signature on its call reports (LST-5): who may say a call happened.

Tracking numbers are public, so a report is believed only when it carries an HMAC-SHA256,
under the secret shared with the provider, of its timestamp, the tracking number it is
about and its body exactly as sent::

    X-Telephony-Timestamp: 1767225600
    X-Telephony-Signature: v1=hex(HMAC-SHA256(secret, "1767225600.+3197012345678." + body))

A report outside the window around now is refused (a captured one cannot be sent later),
and so is a signature seen before (nor twice within the window: the caller records it).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from listings.domain.errors import ListingsError

VERSION = "v1"


class SignatureRefused(ListingsError):
    """The report's signature is missing, wrong, out of its window or used before."""

    status = 401

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WebhookPolicy:
    """How the provider's reports are checked and limited.

    Attributes:
        secret: The secret shared with the provider, or ``None`` (every report refused).
        window_seconds: How far a report's timestamp may be from now, either way.
        per_number_per_minute: Reports accepted per tracking number per minute.
        total_per_minute: Reports accepted per minute in all.
    """

    secret: bytes | None
    window_seconds: int = 300
    per_number_per_minute: int = 30
    total_per_minute: int = 1200


def signature(secret: bytes, timestamp: str, tracking_number: str, body: bytes) -> str:
    """The ``X-Telephony-Signature`` value of a report."""
    message = f"{timestamp}.{tracking_number}.".encode() + body
    return f"{VERSION}={hmac.new(secret, message, hashlib.sha256).hexdigest()}"


def verify(policy: WebhookPolicy, timestamp: str | None, signed: str | None,
           tracking_number: str, body: bytes, now: float) -> str:
    """Check a report's signature and timestamp; returns the signature, the replay key.

    Raises:
        SignatureRefused: With code ``signature_missing``, ``signature_invalid`` or
            ``signature_expired``; the message never quotes the input.
    """
    if policy.secret is None:
        raise SignatureRefused("signature_invalid", "no telephony provider is configured")
    if not timestamp or not signed:
        raise SignatureRefused("signature_missing", "X-Telephony-Timestamp and "
                               "X-Telephony-Signature are required")
    expected = signature(policy.secret, timestamp, tracking_number, body)
    if not hmac.compare_digest(expected.encode(), signed.strip().encode()):
        raise SignatureRefused("signature_invalid", "the signature does not match")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > policy.window_seconds:
        raise SignatureRefused("signature_expired", "the timestamp is outside the "
                               f"{policy.window_seconds} s window")
    return expected
