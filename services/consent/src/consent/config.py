"""Settings of the consent service (``CONSENT_*``, platform blocks from ``MARKET_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings


class ConsentSettings(ServiceSettings):
    """The consent service's settings."""

    model_config = SettingsConfigDict(env_prefix="CONSENT_")

    http_port: int = Field(8102, description="Internal API port (loopback only).")
    catalogue_path: Path | None = Field(
        None, description="Purpose catalogue file; the one shipped with the service if unset."
    )
    cookie_window_seconds: int = Field(
        3600, gt=0, description="Window in which cookie writes are counted per client address.")
    cookie_writes_per_address: int = Field(
        120, ge=0, description="Cookie writes (PUT /v1/cookies) from one client address within "
                               "the window before 429; each visitor's choice is a ledger kept "
                               "for good (issue 26). 0 turns the limit off.")
