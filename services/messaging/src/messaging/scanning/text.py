"""Text helpers shared by the detectors: folding, link extraction, rule loading (MSG-2)."""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources
from typing import Any

LABEL = re.compile(
    r"(?:xn--)?[a-z0-9\u00a1-\uffff](?:[a-z0-9\u00a1-\uffff-]*[a-z0-9\u00a1-\uffff])?")
"""One host name label (ASCII, IDN or ``xn--``); matched whole, so linear in its length."""
TLD = re.compile(r"[a-z\u00a1-\uffff]{2,24}|xn--[a-z0-9-]{2,59}")
"""The last label of a host name."""
SCHEME = re.compile(r"^(?:https?|hxxps?)://", re.IGNORECASE)
TRIM = "<>\"'()[]{}.,;:!?*"
"""Punctuation around a link in running text."""
MAX_TOKEN = 2_048
"""Longer whitespace-free runs are not links anyone clicks; they are skipped."""
MAX_LABELS = 16


def fold(text: str) -> str:
    """Lower-case, compatibility-normalised text without accents (``één`` → ``een``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def hosts(body: str) -> list[str]:
    """The host names of the links in a body, lower-cased, without port or userinfo.

    Links with a scheme, ``www.`` links and bare host names (``rab0bank-veilig.nl/login``);
    e-mail addresses are not links. Linear in the body's length: each whitespace-separated
    token is split, never backtracked over.
    """
    found: list[str] = []
    for token in body.split():
        if "." not in token or len(token) > MAX_TOKEN:
            continue
        bare = token.strip(TRIM)
        link = SCHEME.sub("", bare)
        host = link
        for sep in "/?#\\":
            host = host.split(sep, 1)[0]
        if "@" in host:
            if link == bare:
                continue  # an e-mail address, not a link
            host = host.rsplit("@", 1)[-1]  # http://user@host
        host = host.split(":", 1)[0].strip(TRIM).lower()
        labels = host.split(".")
        if _is_ip(host):
            found.append(host)
        elif (2 <= len(labels) <= MAX_LABELS and TLD.fullmatch(labels[-1])
              and all(len(lb) <= 63 and LABEL.fullmatch(lb) for lb in labels)):
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
