"""The platform's identity as the scanner reads it (``MARKET_PLATFORM_*``, issue 28).

One name and one domain for the whole platform: the scanner treats links imitating the
domain as phishing. The variables are platform-wide (``MARKET_``), not the scanner's own,
so that mails, unsubscribe links, cookie and records texts read the same two values.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformIdentity(BaseSettings):
    """The platform's name and registrable domain."""

    model_config = SettingsConfigDict(env_prefix="MARKET_PLATFORM_")

    name: str = Field("SecondJob", description="The platform's name, as members see it.")
    domain: str = Field(
        "secondjob.nl",
        description="The platform's registrable domain: links imitating it are phishing (MSG-2).")
