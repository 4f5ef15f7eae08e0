"""Settings of the listings service (``LISTINGS_*``, platform blocks from ``MARKET_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings


class ListingsSettings(ServiceSettings):
    """The listings service's settings."""

    model_config = SettingsConfigDict(env_prefix="LISTINGS_")

    http_port: int = Field(8103, description="Internal API port (loopback only).")
