"""Keyed-HMAC pseudonyms for values whose retention period ended (RET-6).

Equal values of one category give equal tokens (counts and joins within the category still
work, e.g. how often a listing was viewed), while nobody without the platform's index key
can tell whose they were; the category is bound in so tokens of two categories never join.
"""

from __future__ import annotations

from kernel.crypto import BlindIndex

PREFIX = "psn_"


def pseudonym(index: BlindIndex, category: str, value: str) -> str:
    """The stable pseudonym of ``value`` in ``category``."""
    return PREFIX + index.digest(f"pseudonym:{category}", value).hex()[:32]
