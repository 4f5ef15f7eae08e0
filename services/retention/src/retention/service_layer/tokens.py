"""Status tokens of privacy requests: random, kept only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

PREFIX = "prs_"
"""Lets the gateway tell a status token from a session token without a lookup."""


def new_token() -> tuple[str, bytes]:
    """A fresh token and the hash to store."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> bytes:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).digest()


def token_valid(token: str, stored: bytes | None, ended_at: datetime | None, now: datetime,
                days: int) -> bool:
    """Whether ``token`` matches and the request ended less than ``days`` ago (or runs)."""
    if stored is None or not hmac.compare_digest(digest(token), bytes(stored)):
        return False
    return ended_at is None or now < ended_at + timedelta(days=days)
