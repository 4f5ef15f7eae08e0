"""Settings of the accounts service (env prefix ``ACCOUNTS_``)."""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings


class AccountsSettings(ServiceSettings):
    """Where the accounts service listens, the current Terms of Use and the log-in rules."""

    model_config = SettingsConfigDict(env_prefix="ACCOUNTS_", env_nested_delimiter="__")

    http_port: int = Field(8101, description="Internal API port.")
    terms_version: str = Field("2026-01", description="Current Terms of Use version.")
    terms_effective_from: date = Field(
        date(2026, 1, 1), description="Date the current Terms of Use took effect."
    )
    min_age: int = Field(16, description="Youngest age allowed to sign up (ACC-3).")
    short_session_hours: float = Field(12.0, description="Length of a short session (ACC-4).")
    long_session_days: float = Field(30.0, description="Length of a 'stay logged in' session.")
    step_up_minutes: float = Field(10.0, description="Length of the step-up window (ACC-4).")
    login_window_seconds: int = Field(
        900, description="Window in which failed log-ins are counted (brute-force protection)."
    )
    login_max_failures_per_account: int = Field(
        5, description="Failed log-ins for one e-mail address (and, apart, failed step-ups "
                       "of one account) within the window before 429."
    )
    login_max_failures_per_address: int = Field(
        50, description="Failed log-ins (and, counted apart, step-ups) from one client "
                        "address within the window before 429."
    )
    signup_window_seconds: int = Field(
        3600, gt=0, description="Window in which sign-ups are counted per client address.")
    signup_max_per_address: int = Field(
        20, ge=0, description="Sign-ups from one client address within the window before "
                              "429 (each costs an argon2 hash and answers whether an e-mail "
                              "is taken); 0 turns the limit off. Addresses come from the "
                              "gateway (GATEWAY_TRUSTED_PROXIES behind a proxy).")
    idle_days: int = Field(
        730, ge=1, description="Days without a log-in after which the member is warned that "
                               "the idle account will be erased (PRV-5, RET-2).")
    idle_warning_days: int = Field(
        30, ge=1, description="Days after the warning without a log-in before the idle "
                              "account is erased.")
    idle_sweep_seconds: float = Field(
        3600.0, gt=0, description="Seconds between two looks for idle accounts.")
    argon2_time_cost: int = Field(3, description="argon2id iterations.")
    argon2_memory_kib: int = Field(65536, description="argon2id memory in KiB.")
    argon2_parallelism: int = Field(4, description="argon2id lanes.")
