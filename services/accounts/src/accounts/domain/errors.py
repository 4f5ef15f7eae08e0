"""Why a command was refused; each error carries a stable code for the API."""

from __future__ import annotations


class AccountsError(Exception):
    """Base of every refusal of the accounts domain."""

    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooYoung(AccountsError):
    """The date of birth is under the minimum age (ACC-3)."""

    code = "too_young"


class TermsVersionMismatch(AccountsError):
    """The accepted Terms of Use version is not the current one (ACC-1)."""

    code = "terms_version"


class InvalidChange(AccountsError):
    """The command's data breaks a rule of the model."""

    code = "invalid"


class EmailTaken(AccountsError):
    """Another account already uses the e-mail address."""

    code = "email_taken"


class UsernameTaken(AccountsError):
    """Another account already uses the public username."""

    code = "username_taken"


class InvalidCredentials(AccountsError):
    """Wrong e-mail, wrong password, or an account that cannot log in."""

    code = "invalid_credentials"


class TooManyAttempts(AccountsError):
    """Too many failed log-ins in the window (brute-force protection)."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthenticated(AccountsError):
    """The token or session is missing, expired or revoked."""

    code = "unauthenticated"


class StepUpRequired(AccountsError):
    """The change needs a fresh password confirmation (ACC-4)."""

    code = "reauth_required"


class NotFound(AccountsError):
    """No such resource for this member (SEC-2: another member's looks the same)."""

    code = "not_found"


class AccountNotActive(AccountsError):
    """The account is closed."""

    code = "account_closed"


class AccountLockedForErasure(AccountsError):
    """An erasure of the account is pending (its grace window): no log-in until cancelled."""

    code = "account_locked"
