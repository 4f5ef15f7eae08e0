"""Brute-force protection of log-in: failures counted per account and per client address."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginThrottle:
    """At most ``per_account`` (or ``per_address``) failures within ``window``."""

    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_address: int = 50

    def retry_after(
        self, account_failures: Sequence[datetime], address_failures: Sequence[datetime],
        now: datetime,
    ) -> int | None:
        """Seconds until a log-in may be tried again, or ``None`` when it may be now."""
        waits = []
        for failures, limit in ((account_failures, self.per_account),
                                (address_failures, self.per_address)):
            recent = sorted(f for f in failures if f > now - self.window)
            if limit > 0 and len(recent) >= limit:
                waits.append(recent[-limit] + self.window - now)
        if not waits:
            return None
        return max(1, math.ceil(max(waits).total_seconds()))
