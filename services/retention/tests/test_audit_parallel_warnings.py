"""A parallel replay passes on what each share's read warned of (AUD-1): a read that ends
short of the log is said whichever process read it, never dropped with the worker."""

from __future__ import annotations

from typing import Any

import pytest

from retention import audit_parallel

pytestmark = pytest.mark.unit


def test_every_share_s_warnings_reach_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    async def short_read(_bootstrap: str, *, share: tuple[int, int], warn: Any,
                         **_kw: Any) -> list[tuple[str, bytes | None]]:
        warn(f"warning: share {share[0]} of {share[1]} ended short")
        return []

    # the forked worker inherits the patched reader
    monkeypatch.setattr(audit_parallel, "read_event_topics", short_read)
    merged, foreign, warnings = audit_parallel.replay_parallel(None, None, False, 2, "kafka")
    assert sorted(warnings) == ["warning: share 0 of 2 ended short",
                                "warning: share 1 of 2 ended short"]
    assert foreign == 0 and merged["verification"]["events"] == 0
