"""Credential fields are marked in the types: the one rule the export and the auditor's
replay withhold by (SEC-4, AUD-1, PRV-1)."""

from __future__ import annotations

import re

import pytest

from contracts.accounts import AccountRegistered, PasswordChanged
from contracts.personal import WITHHELD, credential_fields, withhold_credentials
from contracts.schemas import registered_events

pytestmark = pytest.mark.unit

_LOOKS_LIKE = re.compile(r"password|secret|_hash$|token_hash|api_key|private_key")


def test_every_field_named_like_a_credential_is_marked_as_one() -> None:
    """A new ``*_hash`` or ``*secret*`` field without the marker would reach exports and
    auditors: this fails until it is marked (or renamed)."""
    unmarked = [f"{t}.{name}" for (t, _), cls in registered_events().items()
                for name in cls.model_fields
                if _LOOKS_LIKE.search(name) and name not in credential_fields(cls)]
    assert unmarked == []


def test_password_hashes_are_credentials_and_read_withheld() -> None:
    assert credential_fields(AccountRegistered) == {"password_hash"}
    assert credential_fields(PasswordChanged) == {"password_hash"}
    payload = {"account_id": "a", "password_hash": "$argon2id$v=19$x"}
    assert withhold_credentials(PasswordChanged, payload) == {
        "account_id": "a", "password_hash": WITHHELD}
    assert withhold_credentials(PasswordChanged, {"password_hash": "erased"}) == {
        "password_hash": "erased"}
