"""structlog JSON logs that never carry personal data (SEC-4)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from kernel import logthrottle

REDACTED = "[redacted]"

PERSONAL_KEYS = frozenset(
    {
        "email", "name", "username", "phone", "address", "street", "postcode", "city",
        "date_of_birth", "dob", "password", "password_hash", "token", "authorization",
        "body", "message", "description", "title", "content", "first_name", "last_name",
        "ip", "client_ip", "user_agent", "push_token", "query", "q",
    }
)
"""Keys whose values are personal data whatever they hold; dropped from every log line."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d ()-]{7,}\d")
_SAFE_KEYS = frozenset({"event", "level", "timestamp", "logger", "service"})


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _scrub_text(text: str) -> str:
    """E-mail- and phone-shaped parts redacted; ids (UUIDs) kept whole, never half-redacted."""
    text = _EMAIL.sub(REDACTED, text)
    if not _UUID.search(text):
        return _PHONE.sub(REDACTED, text)
    parts = _UUID.split(text)  # the digit runs inside an id are not a phone number
    ids = _UUID.findall(text)
    out = [_PHONE.sub(REDACTED, parts[0])]
    for found, rest in zip(ids, parts[1:], strict=True):
        out += [found, _PHONE.sub(REDACTED, rest)]
    return "".join(out)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in PERSONAL_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def drop_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact personal keys and anything shaped like an e-mail or phone."""
    for key in list(event_dict):
        if key in _SAFE_KEYS:
            continue
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def setup_logging(service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger for one service process."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        drop_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[logthrottle.drop_repeats, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *[p for p in shared if p is not structlog.processors.format_exc_info],
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    logthrottle.install(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "faststream", "uvicorn.access", "kafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    """A bound structlog logger."""
    return structlog.get_logger(name)
