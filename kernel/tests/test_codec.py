"""Personal fields are encrypted before storage, replay as "erased" without a key (SEC-1)."""

from __future__ import annotations

import uuid

import orjson
import pytest

from contracts.accounts import AccountRegistered, PostalAddress
from kernel.codec import UnknownEventError, decode_event, encode_payload
from kernel.crypto import DataKey, KeyWrapper

pytestmark = pytest.mark.unit


def registered() -> AccountRegistered:
    return AccountRegistered(
        account_id="a1", kind="member", email="jan@example.nl", name="Jan Jansen",
        username="jantje", phone="+31612345678",
        address=PostalAddress(street="Dorpsstraat 1", postcode="1234 AB", city="Utrecht"),
        password_hash="$argon2id$...", terms_version="2026-01",
    )


def test_every_personal_value_is_ciphertext_in_the_stored_payload() -> None:
    key = DataKey.from_bytes("a1", KeyWrapper.new_data_key())
    payload = encode_payload(registered(), uuid.uuid4(), key)
    for plain in (b"jan@example.nl", b"Jan Jansen", b"jantje", b"+31612345678", b"Dorpsstraat"):
        assert plain not in payload
    data = orjson.loads(payload)
    assert data["terms_version"] == "2026-01" and data["kind"] == "member"
    assert data["date_of_birth"] is None


def test_decoding_with_the_key_gives_the_event_back() -> None:
    key = DataKey.from_bytes("a1", KeyWrapper.new_data_key())
    event_id = uuid.uuid4()
    payload = encode_payload(registered(), event_id, key)
    assert decode_event("accounts.AccountRegistered", 1, payload, event_id, key) == registered()


def test_erased_subject_replays_as_erased_never_plaintext() -> None:
    key = DataKey.from_bytes("a1", KeyWrapper.new_data_key())
    event_id = uuid.uuid4()
    payload = encode_payload(registered(), event_id, key)
    event = decode_event("accounts.AccountRegistered", 1, payload, event_id, None)
    assert isinstance(event, AccountRegistered)
    assert (event.email, event.name, event.username, event.phone, event.address) == (
        "erased", "erased", "erased", "erased", "erased"
    )
    assert event.terms_version == "2026-01"


def test_ciphertext_moved_to_another_event_does_not_decrypt() -> None:
    key = DataKey.from_bytes("a1", KeyWrapper.new_data_key())
    payload = encode_payload(registered(), uuid.uuid4(), key)
    event = decode_event("accounts.AccountRegistered", 1, payload, uuid.uuid4(), key)
    assert event.email == "erased"  # type: ignore[attr-defined]


def test_personal_data_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_payload(registered(), uuid.uuid4(), None)


def test_unknown_event_type_is_reported() -> None:
    with pytest.raises(UnknownEventError):
        decode_event("nope.Nothing", 1, b"{}", uuid.uuid4(), None)
