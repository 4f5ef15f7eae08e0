"""Property tests of the session and step-up rules (ACC-4), on the pure domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.domain.sessions import Session, SessionPolicy

pytestmark = pytest.mark.unit

POLICY = SessionPolicy()
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))


def started(at: datetime, remember_me: bool) -> Session:
    return Session("s", "a", remember_me, POLICY.expires_at(at, remember_me))


@given(at=instants, remember_me=st.booleans(), later=offsets)
def test_acc_4_a_session_never_outlives_its_kind(
    at: datetime, remember_me: bool, later: timedelta
) -> None:
    session = started(at, remember_me)
    limit = timedelta(days=30) if remember_me else timedelta(hours=12)
    assert session.active(at + later) == (later < limit)


@given(at=instants, remember_me=st.booleans(), later=offsets)
def test_acc_4_without_reauth_no_step_up_ever(
    at: datetime, remember_me: bool, later: timedelta
) -> None:
    assert not started(at, remember_me).stepped_up(at + later)


@given(at=instants, remember_me=st.booleans(), wait=offsets, later=offsets)
def test_acc_4_step_up_lasts_ten_minutes_and_never_past_the_session(
    at: datetime, remember_me: bool, wait: timedelta, later: timedelta
) -> None:
    session = started(at, remember_me)
    if not session.active(at + wait):
        return
    opened = session.stepped_up_at(at + wait, POLICY)
    within = later < timedelta(minutes=10) and opened.active(at + wait + later)
    assert opened.stepped_up(at + wait + later) == within


@given(at=instants, remember_me=st.booleans(), later=offsets)
def test_acc_4_a_revoked_session_is_dead_even_in_its_step_up_window(
    at: datetime, remember_me: bool, later: timedelta
) -> None:
    session = started(at, remember_me).stepped_up_at(at, POLICY).revoke()
    assert not session.active(at + later)
    assert not session.stepped_up(at + later)
