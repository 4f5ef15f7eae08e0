"""Settings of the gateway (env prefix ``GATEWAY_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.client_address import parse_networks
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
    trusted_proxies: str = Field(
        "", description="Comma-separated CIDRs of the proxies in front of the gateway (the "
        "ingress); only a request from one of them has its forwarding header read for the "
        "client's address (per-address throttles). Empty (default): the TCP peer is the "
        "client and forwarding headers are ignored.")
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for", description="The header the trusted proxies append the client "
        "to: X-Forwarded-For, or Forwarded (RFC 7239). The other one is never read.")
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    internal_auth: InternalAuthSettings = Field(default_factory=InternalAuthSettings)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        parse_networks(value)  # refuse a typo at start-up, not trust the wrong hosts
        return value

    def service_urls(self) -> dict[str, str]:
        """Base URL of every service, by name."""
        return {
            "accounts": self.accounts_url,
            "consent": self.consent_url,
            "listings": self.listings_url,
            "messaging": self.messaging_url,
            "retention": self.retention_url,
        }
