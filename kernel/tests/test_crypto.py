"""Field encryption, key wrapping and blind indexes (SEC-1)."""

from __future__ import annotations

import os

import pytest

from kernel.crypto import TOKEN_PREFIX, BlindIndex, DataKey, DecryptionError, KeyWrapper, is_token

pytestmark = pytest.mark.unit


def test_sealed_field_opens_only_with_same_key_and_context() -> None:
    key = DataKey.from_bytes("s1", KeyWrapper.new_data_key())
    token = key.seal(b'"jan@example.nl"', b"e1:email")
    assert token.startswith(TOKEN_PREFIX) and is_token(token)
    assert b"jan@example.nl" not in token.encode()
    assert key.open(token, b"e1:email") == b'"jan@example.nl"'
    with pytest.raises(DecryptionError):
        key.open(token, b"e1:name")  # moved to another field
    other = DataKey.from_bytes("s2", KeyWrapper.new_data_key())
    with pytest.raises(DecryptionError):
        other.open(token, b"e1:email")


def test_sealing_twice_gives_different_ciphertexts() -> None:
    key = DataKey.from_bytes("s1", KeyWrapper.new_data_key())
    assert key.seal(b"x", b"a") != key.seal(b"x", b"a")


def test_wrapped_key_unwraps_only_under_same_master_and_subject() -> None:
    wrapper = KeyWrapper(os.urandom(32))
    raw = KeyWrapper.new_data_key()
    wrapped = wrapper.wrap(raw, b"subject-hash")
    assert raw not in wrapped
    assert wrapper.unwrap(wrapped, b"subject-hash") == raw
    with pytest.raises(DecryptionError):
        wrapper.unwrap(wrapped, b"another")
    with pytest.raises(DecryptionError):
        KeyWrapper(os.urandom(32)).unwrap(wrapped, b"subject-hash")


def test_master_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError):
        KeyWrapper(b"short")


def test_blind_index_is_stable_case_insensitive_and_purpose_separated() -> None:
    index = BlindIndex(os.urandom(32))
    assert index.email("Jan@Example.nl ") == index.email("jan@example.nl")
    assert index.email("jan@example.nl") != index.digest("username", "jan@example.nl")
    assert BlindIndex(os.urandom(32)).email("jan@example.nl") != index.email("jan@example.nl")
