"""Message scanning: malware, phishing, scams, spam and prohibited content (MSG-2).

``default_scanner()`` builds the composite scanner from the rules and data shipped in
``messaging.scanning.data``: YARA rules, the brand list, request, spam and prohibited
patterns and the spam training set. Building it compiles the rules and trains the spam
classifier and, at first use in a process, the learned text model from the shipped
corpus (a few seconds, then cached); build it once per process.
"""

from __future__ import annotations

from messaging.scanning.api import Scanner


def default_scanner(platform_domain: str | None = None, *, learned: bool = True) -> Scanner:
    """The composite scanner of every detector, from the rules shipped in the package.

    Args:
        platform_domain: The platform's registrable domain; ``MARKET_PLATFORM_DOMAIN``
            (default ``secondjob.nl``) when omitted.
        learned: Whether the learned text model (``data/model.json``) stands beside the
            rules; ``False`` gives the rules alone (the bench compares both).
    """
    from messaging.scanning.composite import CompositeScanner
    from messaging.scanning.malware import MalwareScanner
    from messaging.scanning.model import default_model_scanner
    from messaging.scanning.phishing import PhishingScanner
    from messaging.scanning.prohibited import ProhibitedScanner
    from messaging.scanning.scam import ScamScanner
    from messaging.scanning.settings import PlatformIdentity
    from messaging.scanning.spam import SpamScanner

    domain = platform_domain or PlatformIdentity().domain
    return CompositeScanner(MalwareScanner(), PhishingScanner(domain), SpamScanner(),
                            ProhibitedScanner(), ScamScanner(),
                            default_model_scanner() if learned else None)


__all__ = ["default_scanner"]
