"""How many attempts each throttle allows: log-in and step-up guesses, sign-ups (issue 26).

Guesses are counted per account and per client address before the password is checked;
sign-ups per client address (each costs an argon2 hash and answers whether an e-mail
address is taken). The counting itself is the kernel's (:mod:`kernel.attempts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Throttles:
    """Ceilings and windows; a ceiling of 0 turns that throttle off."""

    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_address: int = 50
    sign_up_window: timedelta = timedelta(hours=1)
    sign_ups_per_address: int = 20
