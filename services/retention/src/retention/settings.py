"""Settings of the retention service (``RETENTION_*`` on top of the ``MARKET_*`` blocks)."""

from __future__ import annotations

from pathlib import Path

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
    register_file: Path | None = Field(
        None, description="The data register (RET-1) to load instead of the one shipped with "
                          "the service (a TOML file; see retention/data/register.toml)."
    )
    export_days: int = Field(
        7, ge=1, description="Days an access or portability export may be read (PRV-1, PRV-2); "
                             "then it is deleted."
    )
    erasure_retry_seconds: float = Field(
        10.0, gt=0, description="Seconds an erasure waits for a service's receipt before that "
                                "service is asked again (PRV-5)."
    )
    erasure_grace_seconds: float = Field(
        0.0, ge=0, description="Seconds between a verified erasure and the shredding of the "
                               "key, during which the account is locked and the member (with "
                               "the status token) or staff may cancel it; 0 shreds at once "
                               "(API.md's timing). For example 604800 (7 days) in production."
    )
    heads_seal_seconds: float = Field(
        5.0, ge=0, description="Seconds between two passes of the heads sealer, which signs "
                               "the head of every stream that grew (AUD-2), so that verify "
                               "finds events cut from a stream's end; 0 turns it off."
    )
    erasure_escalate_after: int = Field(
        5, ge=1, description="Unanswered erasure orders after which the DPO is told (PRV-5)."
    )
    schedule_interval_seconds: float = Field(
        3600.0, gt=0, description="Seconds between two sweeps of the retention schedule "
                                  "(RET-2, RET-7)."
    )
