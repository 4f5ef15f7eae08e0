"""Settings of the messaging service (``MESSAGING_*``, platform blocks from ``MARKET_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings


class MessagingSettings(ServiceSettings):
    """The messaging service's settings."""

    model_config = SettingsConfigDict(env_prefix="MESSAGING_")

    http_port: int = Field(8104, description="Internal API port (loopback only).")
