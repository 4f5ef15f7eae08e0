"""Settings of the scanner engines (``MESSAGING_SCANNER_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScannerSettings(BaseSettings):
    """Which domain is the platform's own (links imitating it are phishing)."""

    model_config = SettingsConfigDict(env_prefix="MESSAGING_SCANNER_")

    platform_domain: str = Field(
        "klusmarkt.nl", description="The marketplace's registrable domain (MSG-2 lookalikes).")
