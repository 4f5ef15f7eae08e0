"""Settings of the listings service (``LISTINGS_*``, platform blocks from ``MARKET_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings
from listings.domain.webhook import WebhookPolicy


class ListingsSettings(ServiceSettings):
    """The listings service's settings."""

    model_config = SettingsConfigDict(env_prefix="LISTINGS_")

    http_port: int = Field(8103, description="Internal API port (loopback only).")
    telephony_secret: SecretStr | None = Field(
        None, description="Secret shared with the telephony provider: the HMAC-SHA256 key "
        "of its signed call reports (LST-5). Unset, every report is refused.")
    webhook_window_seconds: int = Field(
        300, ge=1, description="How far a call report's timestamp may be from now.")
    webhook_calls_per_number: int = Field(
        30, ge=1, description="Call reports accepted per tracking number per minute.")
    webhook_calls_total: int = Field(
        1200, ge=1, description="Call reports accepted per minute in all.")

    def webhook_policy(self) -> WebhookPolicy:
        """How the telephony provider's reports are checked and limited."""
        secret = self.telephony_secret
        return WebhookPolicy(
            secret.get_secret_value().encode() if secret else None,
            self.webhook_window_seconds, self.webhook_calls_per_number,
            self.webhook_calls_total)
