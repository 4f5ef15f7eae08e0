"""The messaging service erases a subject and gives its receipt (PRV-5)."""

from __future__ import annotations

import pytest

from kernel.service import Runtime
from messaging.adapters.projections import PROJECTIONS
from messaging.service_layer.erasure import NOTHING_HELD, erase_subject

pytestmark = pytest.mark.unit


class NoRows:
    """A connection on which no table holds a row of the subject."""

    async def fetchval(self, sql: str, *args: object) -> int:
        return 0


async def test_prv5_messaging_without_personal_data_receipts_nothing_held() -> None:
    rt = Runtime.__new__(Runtime)
    rt.name = "messaging"
    assert await erase_subject(rt, NoRows(), "subject-1") == (False, NOTHING_HELD)


def test_prv5_every_table_is_erased_by_subject_but_the_shared_ones() -> None:
    shared = {t.name for t in PROJECTIONS if t.subject_column is None}
    # conversations and messages stay for the other participant, bodies unreadable (API.md);
    # the log of staff reads (ids only) stays for accountability, as the accounts service's
    assert shared == {"conversations", "messages", "intake_log", "staff_access"}
