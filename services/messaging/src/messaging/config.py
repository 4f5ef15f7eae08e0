"""Settings of the messaging service (``MESSAGING_*``, platform blocks from ``MARKET_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.service import ServiceSettings


class MessagingSettings(ServiceSettings):
    """The messaging service's settings."""

    model_config = SettingsConfigDict(env_prefix="MESSAGING_")

    http_port: int = Field(8104, description="Internal API port (loopback only).")
    messages_per_minute: int = Field(
        20, ge=10, description="Per-sender message limit; API.md: never below 10 a minute.")
    body_retention_days: int = Field(
        90, ge=32, description="Retention of message bodies (data register, RET-1: 90 days "
        "from collection): no body is readable longer; a month's key goes once this many "
        "days have passed since the month began, so its last bodies go a month early.")
    expiry_interval_seconds: float = Field(
        3600.0, gt=0, description="How often the expiry of message bodies runs (MSG-3).")
    reports_per_hour: int = Field(
        10, ge=1, description="Abuse/vulnerability reports accepted per source an hour (SEC-5).")
    same_text_recipients: int = Field(
        5, ge=2, description="One text to this many recipients within an hour is a signal.")
    new_conversations: int = Field(
        10, ge=2, description="This many new conversations within 10 minutes is a signal.")
    blocked_domain_repeats: int = Field(
        3, ge=2, description="A blocked link domain sent this many times a day is a signal.")
