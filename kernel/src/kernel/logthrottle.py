"""One log line per outage: repeated connection errors are counted, not printed each time.

While PostgreSQL or the broker is down, client libraries (aiokafka above all) and the
kernel's own retry loops would log every attempt: hundreds of lines a second. Here the
first line of a kind passes, the repeats are counted, and when the kind has been quiet
for ``quiet`` seconds one summary line says how often it repeated and for how long
(with a reminder every ``remind`` seconds while it lasts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog

THROTTLED_EVENTS = frozenset({
    "relay.retry",
    "outbound.retry",
    "outbound.send_failed",
    "service.broker_retry",
    "service.migrate_retry",
    "consumer.batch_failed",
    "consumer.database_unavailable",
    "consumer.dead_letter_retry",
    "http.database_unavailable",
    "ops_feed.broker_unavailable",
    "gateway.upstream_unavailable",
})
"""The kernel's own events that repeat once per attempt while a dependency is down."""

THROTTLED_LOGGERS = ("aiokafka", "kafka", "faststream", "asyncpg", "uvicorn.error")
"""Library loggers whose warnings and errors are collapsed per outage."""


@dataclass
class _Outage:
    first: float
    last: float
    reminded: float
    suppressed: int = 0


class OutageLog:
    """Decides which repeated lines pass; reports the repeats when a kind goes quiet.

    Args:
        report: Called with (kind, repeats, seconds, ended) for each summary line.
        quiet: Seconds without a repeat after which an outage counts as over.
        remind: Seconds between summaries while an outage lasts.
        clock: Monotonic seconds.
    """

    def __init__(self, report: Callable[[str, int, float, bool], None], quiet: float = 10.0,
                 remind: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._report = report
        self._quiet = quiet
        self._remind = remind
        self._clock = clock
        self._open: dict[str, _Outage] = {}
        self._lock = threading.Lock()

    def admit(self, kind: str) -> bool:
        """Whether a line of ``kind`` is printed (the first of an outage) or counted."""
        now = self._clock()
        with self._lock:
            outage = self._open.get(kind)
            if outage is None or now - outage.last > self._quiet:
                ended = self._open.pop(kind, None)
                if ended is not None and ended.suppressed:
                    self._report(kind, ended.suppressed, ended.last - ended.first, True)
                self._open[kind] = _Outage(now, now, now)
                return True
            outage.last = now
            outage.suppressed += 1
            return False

    def flush(self) -> None:
        """Report outages that went quiet (ended) or that last long (a reminder)."""
        now = self._clock()
        due: list[tuple[str, int, float, bool]] = []
        with self._lock:
            for kind, outage in list(self._open.items()):
                if now - outage.last > self._quiet:
                    del self._open[kind]
                    if outage.suppressed:
                        due.append((kind, outage.suppressed, outage.last - outage.first, True))
                elif outage.suppressed and now - outage.reminded >= self._remind:
                    outage.reminded = now
                    due.append((kind, outage.suppressed, now - outage.first, False))
        for item in due:
            self._report(*item)


class _LibraryFilter(logging.Filter):
    def __init__(self, outages: OutageLog) -> None:
        super().__init__()
        self._outages = outages

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(THROTTLED_LOGGERS):
            return True
        return self._outages.admit(f"{record.name}: {record.msg}")


def _report(kind: str, repeats: int, seconds: float, ended: bool) -> None:
    structlog.get_logger("kernel.logthrottle").warning(
        "log.repeats_ended" if ended else "log.repeating",
        kind=kind[:200], repeats=repeats, seconds=round(seconds, 1),
    )


_outages = OutageLog(_report)
_flusher: threading.Thread | None = None


def drop_repeats(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: collapse the kernel's per-attempt retry events per outage."""
    event = event_dict.get("event")
    if event in THROTTLED_EVENTS:
        detail = event_dict.get("error") or event_dict.get("service") or ""
        if not _outages.admit(f"{event} {detail}"):
            raise structlog.DropEvent
    return event_dict


def install(handler: logging.Handler, period: float = 2.0) -> None:
    """Collapse library repeats on ``handler`` and start the process's summary thread."""
    global _flusher
    handler.addFilter(_LibraryFilter(_outages))
    if _flusher is None:
        def run() -> None:
            while True:
                time.sleep(period)
                _outages.flush()

        _flusher = threading.Thread(target=run, name="log-outages", daemon=True)
        _flusher.start()
