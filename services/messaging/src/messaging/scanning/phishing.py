"""Phishing: lookalike link domains and credential or bank-detail requests (MSG-2).

Any link whose host reads as the platform's own name (``platform_impersonation``: a
subdomain trick, another suffix, a homoglyph, punycode, a typo) is phishing (issue 28).
Each link's registrable domain is taken with ``tldextract`` on its shipped Public Suffix
List snapshot (no network: no suffix-list URLs, no cache directory). It is compared with
the platform's domain and a list of banks and services (``data/brands.json``):

- an internationalised (``xn--``) label whose confusable skeleton equals a brand;
- a skeleton equal to a brand's after homoglyph folding (``rab0bank``, ``paypa1``);
- a small edit distance (Damerau-Levenshtein) to a brand's label;
- the brand's name as a token of another domain (``mijn-ing-verificatie.nl``) or as a
  subdomain label of another domain (``ing.nl.secure-login.co``).

Request patterns (``data/phishing.json``) add to the score; so do shorteners and raw IP
links beside a request. Reasons carry the registrable domain as indicator, never text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import idna
import tldextract

from messaging.scanning.api import Reason
from messaging.scanning.text import compile_all, fold, hosts, is_ip, load_json

CONFUSABLES: dict[str, str] = load_json("confusables.json")["map"]
"""Characters that render like a Latin letter (Unicode TR39 confusables, the common set)."""

CACHE_SIZE = 4096
"""Hosts whose lookalike verdict is remembered (links repeat across messages)."""

MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("ii", "u"))
"""Letter pairs read as one letter."""


def skeleton(label: str) -> str:
    """A label folded to what it looks like: accents, homoglyphs, digits, letter pairs."""
    s = "".join(CONFUSABLES.get(c, c) for c in fold(label))
    s = s.replace("-", "")
    for pair, single in MULTI:
        s = s.replace(pair, single)
    return s


def distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment (Damerau-Levenshtein) distance, capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@dataclass(frozen=True, slots=True)
class Brand:
    """A domain links must not imitate."""

    domain: str
    label: str
    """The registrable domain's label without suffix: ``rabobank``."""
    name: str
    """The brand token looked for inside other domains."""
    skeleton: str


@dataclass(frozen=True, slots=True)
class Request:
    """A credential or bank-detail request pattern."""

    code: str
    weight: float
    pattern: re.Pattern[str]


class PhishingScanner:
    """Lookalike domains of the platform and of banks, and credential requests."""

    def __init__(self, platform_domain: str, brands: Iterable[tuple[str, str]] | None = None,
                 rules: dict[str, Any] | None = None) -> None:
        self._extract = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                              fallback_to_snapshot=True)
        data = rules if rules is not None else load_json("phishing.json")
        pairs = list(brands) if brands is not None else [
            (b["domain"], b["name"]) for b in load_json("brands.json")["brands"]]
        platform = self._registrable(platform_domain.lower())
        pairs.append((platform, platform.split(".", 1)[0]))
        self._platform = skeleton(self._extract(platform).domain)
        self._brands: list[Brand] = []
        for domain, name in pairs:
            label = self._extract(domain).domain
            self._brands.append(Brand(domain, label, name.replace("-", ""), skeleton(label)))
        self._legit = {b.domain for b in self._brands}
        self.weak = float(data["weak_score"])
        self.strong = float(data["strong_score"])
        grouped: dict[str, list[tuple[float, str]]] = {}
        for r in data["requests"]:
            grouped.setdefault(r["code"], []).append((float(r["weight"]), r["pattern"]))
        self._requests = [Request(code, max(w for w, _ in items),
                                  compile_all([p for _, p in items]))
                          for code, items in grouped.items()]
        self._cache: dict[str, tuple[str, str, float] | None] = {}
        self._shorteners = frozenset(data["shorteners"])

    def _registrable(self, host: str) -> str:
        parts = self._extract(host)
        return parts.top_domain_under_public_suffix or parts.domain or host

    def lookalike(self, host: str) -> tuple[str, str, float] | None:
        """``(rule code, registrable domain, score)`` when a host imitates a brand."""
        if host in self._cache:
            return self._cache[host]
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        found = self._cache[host] = self._lookalike(host)
        return found

    def _lookalike(self, host: str) -> tuple[str, str, float] | None:
        parts = self._extract(host)
        registrable = parts.top_domain_under_public_suffix or host
        if registrable in self._legit or not parts.suffix:
            return None
        if self._imitates_platform(host):
            return "platform_impersonation", registrable, 1.0
        label = parts.domain
        unicode_label = label
        if label.startswith("xn--"):
            try:
                unicode_label = idna.decode(label)
            except idna.IDNAError:
                unicode_label = label
        elif not label.isascii():
            unicode_label = label
        sk = skeleton(unicode_label)
        idn = unicode_label != label or not label.isascii()
        tokens = set(re.split(r"[-_.]", fold(unicode_label)))
        sub_tokens = set(re.split(r"[-_.]", fold(parts.subdomain))) if parts.subdomain else set()
        best: tuple[str, float] | None = None
        for b in self._brands:
            hit: tuple[str, float] | None = None
            if sk == b.skeleton:
                hit = ("homoglyph_domain", 1.0) if idn else ("lookalike_domain", 0.95)
            elif len(b.skeleton) >= 5 and distance(sk, b.skeleton, 2) <= (
                    1 if len(b.skeleton) < 8 else 2):
                hit = ("lookalike_domain", 0.9)
            elif b.name in tokens or (len(b.name) >= 6 and b.name in sk):
                hit = ("brand_in_domain", 0.7)
            elif b.name in sub_tokens or b.label in sub_tokens:
                hit = ("brand_in_subdomain", 0.7)
            if hit and (best is None or hit[1] > best[1]):
                best = hit
        if best is None:
            return None
        return best[0], registrable, best[1]

    def _imitates_platform(self, host: str) -> bool:
        """Whether any label of a host (not the platform's own) reads as the platform's name.

        Catches ``secondjob.nl.evil.com``, ``secondjob.support``, ``login-secondjob.com``,
        ``second-job.nl``, Cyrillic or punycode homoglyphs and one or two typos.
        """
        own = self._platform
        for label in host.split("."):
            if label.startswith("xn--"):
                try:
                    label = idna.decode(label)
                except idna.IDNAError:
                    continue
            sk = skeleton(label)
            if own in sk or (len(own) >= 5 and distance(sk, own, 2) <= (1 if len(own) < 8 else 2)):
                return True
        return False

    def scan(self, body: str) -> tuple[list[Reason], float]:
        """The detector's reasons and the phishing score (0..~2)."""
        reasons: list[Reason] = []
        score = 0.0
        link_hosts = hosts(body)
        domains: dict[str, tuple[str, float]] = {}
        suspicious_link = False
        for h in link_hosts:
            hit = self.lookalike(h)
            if hit is not None:
                code, registrable, s = hit
                if registrable not in domains or domains[registrable][1] < s:
                    domains[registrable] = (code, s)
            elif is_ip(h) or self._registrable(h) in self._shorteners:
                suspicious_link = True
        by_code: dict[str, tuple[float, list[str]]] = {}
        for registrable, (code, s) in domains.items():
            top, names = by_code.get(code, (0.0, []))
            by_code[code] = (max(top, s), [*names, registrable])
        for code, (s, names) in sorted(by_code.items()):
            reasons.append(Reason("phishing", code, round(s, 2), tuple(sorted(names))))
        link_score = max((s for s, _ in by_code.values()), default=0.0)
        folded = fold(body)
        request_score = 0.0
        for r in self._requests:
            if r.pattern.search(folded):
                request_score += r.weight
                reasons.append(Reason("phishing", r.code, r.weight))
        if suspicious_link and request_score > 0:
            reasons.append(Reason("phishing", "obscured_link", 0.2))
            request_score += 0.2
        if link_score and request_score > 0:
            score = link_score + request_score
        elif link_score:
            score = link_score * 0.8
        else:
            score = max(0.0, request_score)
        return reasons, round(score, 3)
