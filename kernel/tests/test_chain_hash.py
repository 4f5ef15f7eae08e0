"""Known answers for the hash chain (AUD-2): the digest is fixed by its inputs, and it
commits to the history before it (the previous hash), not to the event alone."""

from __future__ import annotations

import pytest

from kernel.eventstore import GENESIS, chain_hash, header_text

pytestmark = pytest.mark.unit

HEADER = header_text("00000000-0000-4000-8000-000000000001", "accounts.SessionEnded", 1,
                     "account-a", 2, "a", "2026-01-01T00:00:00.000000+00:00")
PAYLOAD = b'{"reason":"logout"}'


def test_aud2_header_layout_is_fixed() -> None:
    assert HEADER == (b"00000000-0000-4000-8000-000000000001|accounts.SessionEnded|1|"
                      b"account-a|2|a|2026-01-01T00:00:00.000000+00:00|")


def test_aud2_chain_hash_known_answers() -> None:
    """Digests computed once, by hand, as SHA-256(prev || header || payload)."""
    assert chain_hash(b"\x11" * 32, HEADER, PAYLOAD).hex() == (
        "2ba49a3e501d40aa2dd0a45197b10b26ccc17562935e95897538a5eed9952edd")
    assert chain_hash(GENESIS, HEADER, PAYLOAD).hex() == (
        "71d477712dd6ee528184cb385643d8ee6b31c111b2b6653d350f2e858ac34026")


def test_aud2_chain_hash_commits_to_the_previous_hash() -> None:
    """Another history before the same event gives another digest: a rewritten middle
    event cannot be relinked without rehashing every event after it."""
    digests = {chain_hash(prev, HEADER, PAYLOAD) for prev in (GENESIS, b"\x11" * 32,
                                                              b"\x12" + b"\x11" * 31)}
    assert len(digests) == 3
