"""Logs never carry personal data (SEC-4)."""

from __future__ import annotations

import pytest

from kernel.logs import REDACTED, drop_personal_data

pytestmark = pytest.mark.unit


def test_personal_keys_are_redacted_whatever_their_value() -> None:
    out = drop_personal_data(None, "info", {"event": "x", "email": "a@b.nl", "name": "Jan",
                                            "password": "hunter22", "account_id": "a1"})
    assert out["email"] == out["name"] == out["password"] == REDACTED
    assert out["account_id"] == "a1" and out["event"] == "x"


def test_values_shaped_like_emails_or_phones_are_redacted_anywhere() -> None:
    out = drop_personal_data(None, "info", {"event": "x", "error": "dup key jan@example.nl",
                                            "detail": {"nested": ["call +31 6 1234 5678"]}})
    assert "jan@example.nl" not in str(out) and "1234 5678" not in str(out)


def test_ids_are_kept_whole_while_a_phone_beside_them_is_redacted() -> None:
    ids = ["4e656faf-1816-4226-9acc-7655bfe0241f", "ccda26e1-e0bb-4c4d-8a2b-cb54008e6072"]
    out = drop_personal_data(None, "info", {
        "event": "x", "account_id": ids[0], "request_id": ids[1],
        "error": f"request {ids[1]} for +31612345678 refused"})
    assert out["account_id"] == ids[0] and out["request_id"] == ids[1]
    assert out["error"] == f"request {ids[1]} for {REDACTED} refused"
