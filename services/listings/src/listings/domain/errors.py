"""Why a listings command was refused; each error carries a stable code for the API."""

from __future__ import annotations


class ListingsError(Exception):
    """Base of every refusal of the listings domain; messages never quote input."""

    code = "invalid"
    status = 422
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidListing(ListingsError):
    """The command's data breaks a rule of the model."""


class UnknownPlace(ListingsError):
    """The place is not in the place table of the Netherlands."""

    code = "unknown_place"


class EmployerRequired(ListingsError):
    """Only employer accounts post vacancies (LST-1)."""

    code = "employer_required"
    status = 403


class MemberRequired(ListingsError):
    """Only member accounts post profiles and ads, apply or give feedback (LST-1)."""

    code = "member_required"
    status = 403


class NotFound(ListingsError):
    """No such resource for this member (SEC-2: another member's looks the same)."""

    code = "not_found"
    status = 404


class AccountNotKnownYet(ListingsError):
    """The accounts events of this account have not reached the listings service yet.

    A 409 with ``Retry-After``: the account exists, this service will know it within
    seconds (API.md, consistency across services), and retrying is safe.
    """

    code = "account_not_ready"
    status = 409
    retry_after = 1


class AlreadyDone(ListingsError):
    """The member already did this (applied to this listing)."""

    code = "conflict"
    status = 409


class RateLimited(ListingsError):
    """Too many requests of one kind within a minute; retry after ``retry_after`` seconds."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
