"""The composition root of the accounts service: every I/O dependency is made here."""

from __future__ import annotations

from datetime import timedelta

from accounts.adapters.passwords import Argon2Passwords
from accounts.adapters.schema import migrate
from accounts.domain.errors import AccountsError
from accounts.domain.model import Terms
from accounts.domain.sessions import SessionPolicy
from accounts.domain.throttle import LoginThrottle
from accounts.entrypoints.erasure import erase_account
from accounts.entrypoints.http import domain_error, router
from accounts.service_layer.context import Context, Passwords
from accounts.settings import AccountsSettings
from kernel.erasure import erasure_consumer
from kernel.service import Runtime, ServiceHost


def policies(s: AccountsSettings) -> tuple[Terms, SessionPolicy, LoginThrottle]:
    """The domain rules as configured."""
    return (
        Terms(s.terms_version, s.terms_effective_from),
        SessionPolicy(short=timedelta(hours=s.short_session_hours),
                      long=timedelta(days=s.long_session_days),
                      step_up=timedelta(minutes=s.step_up_minutes)),
        LoginThrottle(window=timedelta(seconds=s.login_window_seconds),
                      per_account=s.login_max_failures_per_account,
                      per_address=s.login_max_failures_per_address),
    )


def build(
    settings: AccountsSettings | None = None, passwords: Passwords | None = None
) -> ServiceHost:
    """The accounts service host: internal API, projections, erasure consumer."""
    s = settings or AccountsSettings()
    terms, policy, throttle = policies(s)

    async def on_start(rt: Runtime) -> None:
        hasher = passwords or Argon2Passwords(
            s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism
        )
        rt.extra["ctx"] = Context(rt.pool, rt.store, rt.keys, rt.index, hasher, terms, policy,
                                  throttle, s.min_age)

    host = ServiceHost(
        "accounts", s, routers=[router], consumers=[erasure_consumer(erase_account)],
        migrate=migrate, on_start=on_start,
    )
    host.app.add_exception_handler(AccountsError, domain_error)
    return host
