"""Refusals of the messaging service, each with its HTTP status and a stable code."""

from __future__ import annotations


class MessagingError(Exception):
    """A refusal: ``status``, ``code`` and a message that never quotes input."""

    status = 400
    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(MessagingError):
    """The request cannot be carried out as asked."""

    status, code = 422, "invalid"


class NotFound(MessagingError):
    """No such resource, or not the caller's (others' answer the same, API.md)."""

    status, code = 404, "not_found"


class Forbidden(MessagingError):
    """The caller's staff roles do not allow it."""

    status, code = 403, "forbidden"


class Conflict(MessagingError):
    """The resource is not in a state that allows it."""

    status, code = 409, "conflict"


class NotKnownYet(MessagingError):
    """The account or listing has not reached this service through Kafka yet; retry."""

    status, code = 409, "not_known_yet"


class RateLimited(MessagingError):
    """Too many requests from one sender (MSG-4, SEC-5)."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
