"""Settings of the retention service (``RETENTION_*`` on top of the ``MARKET_*`` blocks)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings


class RetentionSettings(ServiceSettings):
    """The retention service's settings."""

    model_config = SettingsConfigDict(env_prefix="RETENTION_")

    http_port: int = Field(8105, description="Internal API port.")
    status_token_days: int = Field(
        30, description="Days a privacy request's status token stays valid after it ends."
    )
