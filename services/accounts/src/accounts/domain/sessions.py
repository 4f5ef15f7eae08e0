"""Session rules (ACC-4): how long sessions last, when they count, the step-up window."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from accounts.domain.errors import StepUpRequired, Unauthenticated


@dataclass(frozen=True)
class SessionPolicy:
    """Lengths of short and remembered sessions and of the step-up window."""

    short: timedelta = timedelta(hours=12)
    long: timedelta = timedelta(days=30)
    step_up: timedelta = timedelta(minutes=10)

    def expires_at(self, now: datetime, remember_me: bool) -> datetime:
        """When a session started at ``now`` ends by itself."""
        return now + (self.long if remember_me else self.short)


@dataclass(frozen=True)
class Session:
    """A member's log-in, as far as the rules care."""

    session_id: str
    account_id: str
    remember_me: bool
    expires_at: datetime
    step_up_until: datetime | None = None
    revoked: bool = False

    def active(self, now: datetime) -> bool:
        """Whether the session may be used at ``now``."""
        return not self.revoked and now < self.expires_at

    def stepped_up(self, now: datetime) -> bool:
        """Whether sensitive changes are open at ``now`` (only after a re-authentication)."""
        return self.active(now) and self.step_up_until is not None and now < self.step_up_until

    def require_active(self, now: datetime) -> None:
        """Raise ``Unauthenticated`` unless the session is active."""
        if not self.active(now):
            raise Unauthenticated("the session has ended")

    def require_step_up(self, now: datetime) -> None:
        """Raise ``StepUpRequired`` outside the step-up window."""
        self.require_active(now)
        if not self.stepped_up(now):
            raise StepUpRequired("confirm your password first (POST /v1/sessions/current/reauth)")

    def stepped_up_at(self, now: datetime, policy: SessionPolicy) -> Session:
        """The session with its step-up window opened at ``now`` (never past its end)."""
        self.require_active(now)
        return replace(self, step_up_until=min(now + policy.step_up, self.expires_at))

    def revoke(self) -> Session:
        """The session ended."""
        return replace(self, revoked=True)
