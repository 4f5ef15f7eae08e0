"""The contact guard's one rule: consent, objection, restriction, preferences (CNS-7, PRV-6)."""

from __future__ import annotations

import pytest

from kernel.crypto import BlindIndex
from kernel.guard import FakeGuard, Standing, decide
from kernel.unsubscribe import read_unsubscribe_token, unsubscribe_token

pytestmark = pytest.mark.unit

EMAIL = Standing("consent", ("email",), "special_offers", True)
LI = Standing("legitimate_interest", (), None, True)
SERVICE = Standing("contract", ("email", "sms"), "service_messages", False)
LAW = Standing("legal_obligation", ("email",), "service_messages", False)


@pytest.mark.parametrize(("standing", "channel", "reason"), [
    (None, "email", "unknown_purpose"),
    (EMAIL, "email", "not_granted"),
    (Standing(**{**EMAIL.__dict__, "granted": True}), "email", None),
    (Standing(**{**EMAIL.__dict__, "granted": False}), "email", "not_granted"),
    (Standing(**{**EMAIL.__dict__, "granted": True}), "sms", "channel_not_covered"),
    (Standing(**{**EMAIL.__dict__, "granted": True, "stale": True}), "email",
     "reconsent_needed"),
    (Standing(**{**EMAIL.__dict__, "granted": True, "restricted": True}), "email",
     "restricted"),
    (Standing(**{**EMAIL.__dict__, "granted": True, "muted": True}), "email",
     "preference_off"),
    (LI, None, None),
    (Standing(**{**LI.__dict__, "granted": False}), None, "objected"),
    (Standing(**{**LI.__dict__, "restricted": True}), None, "restricted"),
    (SERVICE, "email", None),
    (Standing(**{**SERVICE.__dict__, "restricted": True}), "email", None),
    (Standing(**{**SERVICE.__dict__, "muted": True}), "sms", "preference_off"),
    (Standing(**{**LAW.__dict__, "muted": True, "restricted": True}), "email", None),
])
def test_cns_7_one_rule_for_consent_objection_restriction_and_preferences(
    standing: Standing | None, channel: str | None, reason: str | None,
) -> None:
    verdict = decide(standing, channel)
    assert verdict.allowed is (reason is None)
    assert verdict.reason == reason


async def test_cns_7_fake_guard_records_refusals_with_nothing_but_ids_and_reason() -> None:
    guard = FakeGuard()
    guard.set("m1", "marketing_email", **{**EMAIL.__dict__, "granted": True})
    assert await guard.allows("m1", "marketing_email", "email")
    assert not await guard.allows("m2", "marketing_email", "email")
    assert guard.refusals == [("m2", "marketing_email", "email", "unknown_purpose")]


def test_cns_4_tokens_name_one_member_and_one_purpose() -> None:
    index = BlindIndex(b"k" * 32)
    token = unsubscribe_token(index, "m1", "marketing_email")
    assert read_unsubscribe_token(index, token) == ("m1", "marketing_email")
    assert read_unsubscribe_token(BlindIndex(b"x" * 32), token) is None
    assert unsubscribe_token(index, "m1", "marketing_sms").split(".")[1] != token.split(".")[1]
