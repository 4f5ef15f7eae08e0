"""Issue 11: the run restarts whatever part exits, backing off while it keeps dying."""

from __future__ import annotations

import itertools

import pytest

from devstack.healing import Healer, Part

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Proc:
    """A fake part: dies when told, starts (or fails to) when asked."""

    def __init__(self, fail_starts: int = 0) -> None:
        self.up = True
        self.starts = 0
        self.fail_starts = fail_starts

    def start(self) -> None:
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("shared memory block still in use")
        self.up = True


def _healer(clock: Clock, **procs: Proc) -> tuple[Healer, list[str]]:
    restarted: list[str] = []
    parts = [Part(name, (lambda p=p: p.up), p.start) for name, p in procs.items()]
    for part in parts:
        part.started_at = clock.now
    return Healer(parts, restarted.append, clock), restarted


def _run(healer: Healer, clock: Clock, seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        clock.now += 0.5
        healer.tick()


def test_a_dead_part_is_restarted_after_a_second_and_others_are_left_alone() -> None:
    clock, pg, broker = Clock(), Proc(), Proc()
    healer, restarted = _healer(clock, postgres=pg, broker=broker)
    _run(healer, clock, 120)
    pg.up = False
    _run(healer, clock, 0.5)
    assert pg.starts == 0  # not at once: it gets a second
    _run(healer, clock, 1.0)
    assert (pg.starts, pg.up, broker.starts) == (1, True, 0)
    assert restarted == ["postgres"] and healer.restarts["postgres"] == 1


def test_a_part_that_keeps_dying_is_restarted_ever_more_slowly_up_to_30_s() -> None:
    clock, svc = Clock(), Proc()
    healer, _ = _healer(clock, accounts=svc)
    starts_at = []
    for _ in range(8):
        svc.up = False
        before = svc.starts
        while svc.starts == before:
            clock.now += 0.5
            healer.tick()
        starts_at.append(clock.now)
    gaps = [round(b - a) for a, b in itertools.pairwise(starts_at)]
    assert gaps == [2, 4, 8, 16, 30, 30, 30]


def test_a_failed_restart_is_retried_with_back_off() -> None:
    clock, pg = Clock(), Proc(fail_starts=2)
    healer, restarted = _healer(clock, postgres=pg)
    _run(healer, clock, 120)
    pg.up = False
    _run(healer, clock, 20)
    assert pg.up and pg.starts == 3 and restarted == ["postgres"]
