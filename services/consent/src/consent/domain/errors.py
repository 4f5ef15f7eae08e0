"""Why a consent command was refused; each error carries a stable code for the API."""

from __future__ import annotations


class ConsentError(Exception):
    """Base of every refusal of the consent domain."""

    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownPurpose(ConsentError):
    """No purpose of the catalogue has that slug (answered 404 like any missing resource)."""

    code = "not_found"


class NotConsentBased(ConsentError):
    """A contract or legal-obligation purpose cannot be granted or withdrawn (409)."""

    code = "not_consent_based"


class InvalidPreferences(ConsentError):
    """Unknown channel or kind in preferences (422)."""

    code = "invalid"


class Forbidden(ConsentError):
    """The caller's staff roles do not allow this (403)."""

    code = "forbidden"


class NotFound(ConsentError):
    """No such token or subject; never says which (404)."""

    code = "not_found"


class TooManyWrites(ConsentError):
    """Too many cookie writes from one client address in the window (429)."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
