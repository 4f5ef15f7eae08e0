"""Self-healing of the embedded stack: whatever process exits is started again.

PostgreSQL recovers from its WAL on start (a crash loses nothing committed); Kafka
recovers its log likewise (and should its data be lost, it comes back formatted anew, gets
its topics again, and the relays, finding no epoch marker, republish from the event
stores); services restart and reconnect by themselves. Each part backs
off while it keeps dying: 1 s, doubling to 30 s, reset once it has run for 10 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("devstack.healing")

STABLE_AFTER = 10.0
"""Seconds a part must have run for its next exit to count as a new fault (restart after
1 s) rather than a crash loop (back off)."""

MAX_DELAY = 30.0


@dataclass
class Part:
    """One supervised process.

    Attributes:
        name: What it is (``postgres``, ``broker`` or a service name).
        alive: Whether it runs.
        start: Starts it again; raises when that fails.
        exit_code: Its exit code when known (services and the broker), for the log.
    """

    name: str
    alive: Callable[[], bool]
    start: Callable[[], None]
    exit_code: Callable[[], int | None] = lambda: None
    started_at: float = field(default_factory=time.monotonic)
    delay: float = 0.5
    due: float | None = None
    down_since: float | None = None


class Healer:
    """Checks every part on each :meth:`tick` and restarts the dead ones with back-off.

    Args:
        parts: What to supervise, in the order to restart (PostgreSQL, broker, services).
        on_restarted: Called with a part's name after it started again.
        clock: Monotonic seconds.
        reap: Called first on every tick to reap exited orphans (see ``procs``).
    """

    def __init__(self, parts: list[Part], on_restarted: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 reap: Callable[[], object] | None = None) -> None:
        self.parts = parts
        self.on_restarted = on_restarted
        self.reap = reap
        self.clock = clock
        self.restarts: dict[str, int] = {p.name: 0 for p in parts}

    def tick(self) -> None:
        """Schedule a restart for each part that died; restart those that are due."""
        if self.reap is not None:
            self.reap()  # a dead postmaster must not linger as a zombie pg_ctl takes as alive
        for part in self.parts:
            now = self.clock()
            if part.due is None:
                if part.alive():
                    continue
                ran = now - part.started_at
                part.delay = 1.0 if ran > STABLE_AFTER else min(MAX_DELAY, part.delay * 2)
                part.due = now + part.delay
                part.down_since = part.down_since or now
                log.error("stack.part_exited", part=part.name, exit_code=part.exit_code(),
                          restart_in=part.delay)
            elif now >= part.due:
                self._restart(part, now)

    def _restart(self, part: Part, now: float) -> None:
        part.due = None
        part.started_at = now
        try:
            part.start()
        except Exception as exc:  # any failure: still dead, retried with back-off
            first = str(exc).splitlines()[0] if str(exc) else ""
            log.error("stack.restart_failed", part=part.name, error=type(exc).__name__,
                      reason=first[:300])
            return  # still dead: the next tick schedules it again, backing off
        self.restarts[part.name] += 1
        down = self.clock() - (part.down_since or now)
        part.down_since = None
        log.warning("stack.part_restarted", part=part.name, down_seconds=round(down, 2),
                    restarts=self.restarts[part.name])
        if self.on_restarted is not None:
            self.on_restarted(part.name)
