"""Issue 11: a dependency's outage is logged once with a count, not once per attempt."""

from __future__ import annotations

import logging

import pytest

from kernel.logthrottle import OutageLog, _LibraryFilter

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_repeats_within_an_outage_pass_once_then_are_summed_when_quiet() -> None:
    clock, reports = Clock(), []
    outages = OutageLog(lambda *r: reports.append(r), quiet=10, remind=60, clock=clock)
    passed = 0
    for _ in range(500):  # 500 attempts over 5 s
        passed += outages.admit("aiokafka: Unable connect to %s")
        clock.now += 0.01
    assert passed == 1
    outages.flush()
    assert reports == []
    clock.now += 11
    outages.flush()
    assert reports == [("aiokafka: Unable connect to %s", 499, pytest.approx(4.99), True)]
    assert outages.admit("aiokafka: Unable connect to %s")  # a new outage is news again


def test_a_long_outage_is_reminded_with_its_count() -> None:
    clock, reports = Clock(), []
    outages = OutageLog(lambda *r: reports.append(r), quiet=10, remind=60, clock=clock)
    for _ in range(130):
        outages.admit("relay.retry")
        clock.now += 1
        outages.flush()
    reminders = [r for r in reports if not r[3]]
    assert [r[1] for r in reminders] == [59, 119]


def test_different_kinds_are_independent_and_info_lines_are_untouched() -> None:
    outages = OutageLog(lambda *r: None, clock=Clock())
    keep = _LibraryFilter(outages)

    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    assert keep.filter(record("aiokafka.conn", logging.ERROR, "Unable connect to %s"))
    assert not keep.filter(record("aiokafka.conn", logging.ERROR, "Unable connect to %s"))
    assert keep.filter(record("aiokafka.cluster", logging.ERROR, "No metadata"))
    assert keep.filter(record("aiokafka.conn", logging.INFO, "Unable connect to %s"))
    assert keep.filter(record("accounts", logging.ERROR, "Unable connect to %s"))
