"""Settings of the gateway (env prefix ``GATEWAY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.internal_auth import InternalAuthSettings
from kernel.settings import TelemetrySettings


class GatewaySettings(BaseSettings):
    """Where the gateway listens and where the services are."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    http_host: str = Field("127.0.0.1", description="Public HTTP address.")
    http_port: int = Field(8000, description="Public HTTP port.")
    accounts_url: str = Field("http://127.0.0.1:8101", description="Accounts service.")
    consent_url: str = Field("http://127.0.0.1:8102", description="Consent service.")
    listings_url: str = Field("http://127.0.0.1:8103", description="Listings service.")
    messaging_url: str = Field("http://127.0.0.1:8104", description="Messaging service.")
    retention_url: str = Field("http://127.0.0.1:8105", description="Retention service.")
    upstream_timeout: float = Field(10.0, description="Seconds before a service call fails.")
    metrics_port: int | None = Field(
        None, description="Internal port answering /metrics (only it) in deploy/, so that "
        "the public port never shows metrics; unset (the embedded stack): /metrics on the "
        "public port.")
    ops_open: bool = Field(
        True, description="Whether /ops/data.json needs no token (the embedded default); "
        "false in deploy/: only a session holding the ops role reads it.")
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    internal_auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)

    def service_urls(self) -> dict[str, str]:
        """Base URL of every service, by name."""
        return {
            "accounts": self.accounts_url,
            "consent": self.consent_url,
            "listings": self.listings_url,
            "messaging": self.messaging_url,
            "retention": self.retention_url,
        }
