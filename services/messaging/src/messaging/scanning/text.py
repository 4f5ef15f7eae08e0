"""Text helpers shared by the detectors: folding, link extraction, rule loading (MSG-2)."""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources
from typing import Any

URL = re.compile(
    r"(?:(?:https?|hxxps?)://|www\.)[^\s<>\"'()\[\]{}]+"
    r"|\b(?:[a-z0-9\u00a1-\uffff](?:[a-z0-9\u00a1-\uffff-]{0,61}[a-z0-9\u00a1-\uffff])?\.)+"
    r"(?:[a-z]{2,24}|xn--[a-z0-9-]{2,59})(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
"""Links with a scheme, ``www.`` links and bare host names (``rab0bank-veilig.nl/login``)."""

EMAIL_AT = re.compile(r"[\w.+-]+@(?=[\w-]+\.)")
"""The local part of an e-mail address, removed so addresses are not read as links."""


def fold(text: str) -> str:
    """Lower-case, compatibility-normalised text without accents (``één`` → ``een``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def hosts(body: str) -> list[str]:
    """The host names of the links in a body, lower-cased, without port or userinfo."""
    found: list[str] = []
    for m in URL.finditer(EMAIL_AT.sub(" ", body)):
        link = m.group(0)
        link = re.sub(r"^(?:https?|hxxps?)://", "", link, flags=re.IGNORECASE)
        host = re.split(r"[/?#\\]", link, maxsplit=1)[0]
        host = host.rsplit("@", 1)[-1].split(":", 1)[0].strip(".").lower()
        if ("." in host and not host.replace(".", "").isdigit()) or _is_ip(host):
            found.append(host)
    return found


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def is_ip(host: str) -> bool:
    """Whether a host is a literal IPv4 address."""
    return _is_ip(host)


def load_json(name: str) -> Any:
    """A data file shipped in ``messaging.scanning.data``."""
    return json.loads(resources.files("messaging.scanning.data").joinpath(name).read_text("utf-8"))


def read_text(name: str) -> str:
    """A text data file shipped in ``messaging.scanning.data``."""
    return resources.files("messaging.scanning.data").joinpath(name).read_text("utf-8")


def compile_all(patterns: list[str]) -> re.Pattern[str]:
    """One alternation of several case-insensitive patterns."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.DOTALL)
