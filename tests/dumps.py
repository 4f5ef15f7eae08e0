"""Every byte at rest, to search for a member's personal values (SEC-1, PRV-5, RET-5)."""

from __future__ import annotations

from members import Member

from devstack.dumps import dump_kafka, dump_postgres, found_in

__all__ = ["dump_kafka", "dump_postgres", "leaks"]


def leaks(blob: bytes, m: Member) -> list[str]:
    """The member's personal values that occur in ``blob``, as text or hex, in any case."""
    return found_in(blob, m.personal_values())
