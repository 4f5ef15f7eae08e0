"""The settings reference (``docs/settings.md``), generated from the settings classes.

Every environment variable a deployer can give is listed once, with its default and the
description its field carries, so the reference cannot drift from the code: a test
compares the committed file with what this module generates (``make docs`` renews it).

``python -m devstack.settings_doc [PATH]`` writes the reference (standard output without
a path).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from accounts.settings import AccountsSettings
from consent.config import ConsentSettings
from gateway.settings import GatewaySettings
from kernel.internal_auth import InternalAuthSettings
from kernel.outbound import OutboundSettings
from kernel.settings import (
    KafkaSettings,
    PostgresSettings,
    SecretsSettings,
    TelemetrySettings,
)
from listings.config import ListingsSettings
from messaging.config import MessagingSettings
from messaging.scanning.settings import PlatformIdentity
from retention.settings import RetentionSettings

SHARED: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("PostgreSQL (every service)", PostgresSettings),
    ("Kafka (every service, the gateway, the tools)", KafkaSettings),
    ("Root secrets (every service)", SecretsSettings),
    ("Signed internal calls (every service and the gateway)", InternalAuthSettings),
    ("Logs and traces (every process)", TelemetrySettings),
    ("Outgoing mail (every service that mails)", OutboundSettings),
    ("The platform's identity (the scanner)", PlatformIdentity),
)
"""Settings classes nested in (or read beside) several services: listed once each."""

SERVICES: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("Gateway", GatewaySettings),
    ("Accounts", AccountsSettings),
    ("Consent", ConsentSettings),
    ("Listings", ListingsSettings),
    ("Messaging", MessagingSettings),
    ("Retention", RetentionSettings),
)

READ_DIRECTLY: tuple[tuple[str, str, str], ...] = (
    ("MARKET_DATA_DIR", "`.stack`", "The embedded stack's data directory, whose "
     "`secrets.env` `marketplace-audit`, `marketplace-staff` and the devstack commands read "
     "(`--data-dir` overrides it)."),
    ("MARKET_BACKUP_DIR", "`.stack-backups`", "Where `make backup` writes and `make "
     "restore` reads."),
    ("MARKET_AUDIT_HEADS_TOPIC", "`platform.stream-heads.v1`", "The topic of sealed "
     "stream heads (tests use their own)."),
    ("MARKET_LOG_LEVEL", "`INFO`", "The devstack supervisor's own log level."),
)
"""Variables read with ``os.environ`` by the tools rather than through a settings class."""


def _default(info: Any) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "(secret)"
    if value is None:
        return "(unset)"
    if value == "":
        return '`""`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "`" + ",".join(str(v) for v in value) + "`"
    return f"`{value}`"


def _is_settings(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def rows(cls: type[BaseSettings]) -> list[tuple[str, str, str]]:
    """(variable, default, description) for each of the class's own fields; fields that
    are settings classes of their own (listed in their own section) are left out."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    out = []
    for name, info in cls.model_fields.items():
        if _is_settings(info.annotation):
            continue
        description = " ".join((info.description or "").split())
        alias = info.validation_alias
        variable = alias.upper() if isinstance(alias, str) else prefix + name.upper()
        out.append((variable, _default(info), description))
    return out


def nested(cls: type[BaseSettings]) -> list[str]:
    """The settings classes a class nests, by name (each listed in its own section)."""
    return [getattr(info.annotation, "__name__", "") for info in cls.model_fields.values()
            if _is_settings(info.annotation)]


def _table(lines: list[str], items: list[tuple[str, str, str]]) -> None:
    lines += ["| variable | default | what it sets |", "| --- | --- | --- |"]
    lines += [f"| `{v}` | {d} | {text.replace('|', '/')} |" for v, d, text in items]
    lines.append("")


def render() -> str:
    """The whole reference, as Markdown."""
    lines = [
        "# Settings reference",
        "",
        "Every setting is an environment variable. This file is generated from the "
        "settings classes (`make docs`); a test fails when it differs from them. "
        "Secrets have no default: `make run` generates them into `.stack/secrets.env`, "
        "`deploy/` takes them from `deploy/secrets.env` or its Secrets.",
        "",
    ]
    for title, cls in SHARED:
        lines += [f"## {title}", "", f"`{cls.__module__}.{cls.__name__}`", ""]
        _table(lines, rows(cls))
    for title, cls in SERVICES:
        lines += [f"## {title}", "", f"`{cls.__module__}.{cls.__name__}`"
                  + (f"; also reads {', '.join(nested(cls))} above." if nested(cls) else "."),
                  ""]
        _table(lines, rows(cls))
    lines += ["## Read by the tools directly", ""]
    _table(lines, list(READ_DIRECTLY))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the reference to the path given, or to standard output."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
