"""Events signed by their producer (issue 26): signing and checking, without a broker."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from kernel.signing import SIGNATURE_HEADER, EventSigner, EventVerifier, Forged, producer_key

pytestmark = pytest.mark.unit

ROOT = bytes(range(32))
VALUE = b'{"event_id":"1","event_type":"accounts.StaffRoleGranted","hash":"ab"}'


@dataclass
class Rec:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


def signed(producer: str, topic: str = "accounts.events.v1", key: bytes | None = b"subject",
           value: bytes = VALUE, root: bytes = ROOT) -> Rec:
    return Rec(topic, key, value, [("event_type", b"x"),
                                   EventSigner(root, producer).header(topic, key, value)])


def test_each_service_has_its_own_key_from_the_root() -> None:
    keys = {producer_key(ROOT, s) for s in ("accounts", "retention", "consent")}
    assert len(keys) == 3 and all(len(k) == 32 for k in keys)
    assert producer_key(ROOT, "accounts") == producer_key(ROOT, "accounts")
    assert producer_key(ROOT, "accounts") != producer_key(b"\1" * 32, "accounts")
    assert ROOT not in keys


def test_a_record_signed_by_its_topics_producer_checks() -> None:
    verifier = EventVerifier(ROOT)
    assert verifier.signer(signed("accounts")) == "accounts"
    assert verifier.check(signed("retention", "retention.events.v1"), "retention",
                          "retention.SubjectKeyShredded") == "retention"
    assert verifier.signer(signed("accounts", key=None)) == "accounts"
    # shared namespaces: every service gives its export part and receipts
    assert verifier.check(signed("listings", "listings.events.v1"), "listings",
                          "privacy.SubjectDataExported") == "listings"


@pytest.mark.parametrize(("record", "reason"), [
    (Rec("accounts.events.v1", b"subject", VALUE), "unsigned"),
    (Rec("accounts.events.v1", b"subject", VALUE, [(SIGNATURE_HEADER, b"garbage")]),
     "unknown signature version"),
    (Rec("accounts.events.v1", b"subject", VALUE, [(SIGNATURE_HEADER, b"v1;gateway;00")]),
     "signed by an unknown producer"),
    (signed("accounts", root=b"\7" * 32), "signature does not check for accounts"),
    (signed("listings"), "listings does not own topic accounts.events.v1"),
    (signed("accounts", "retention.events.v1"), "accounts does not own topic retention"),
    (signed("accounts", "some.other.topic"), "accounts does not own topic some.other"),
])
def test_a_record_not_signed_by_its_topics_producer_is_refused(record: Rec, reason: str) -> None:
    with pytest.raises(Forged, match=reason):
        EventVerifier(ROOT).signer(record)


@pytest.mark.parametrize("change", ["topic", "key", "value", "hash", "signature"])
def test_any_change_to_a_signed_record_breaks_its_signature(change: str) -> None:
    rec = signed("accounts")
    sig = dict(rec.headers)[SIGNATURE_HEADER]
    if change == "topic":  # the same bytes moved to another topic accounts owns
        rec = Rec("accounts.dead-letter.v1", rec.key, rec.value, rec.headers)
    elif change == "key":
        rec.key = b"subjecu"
    elif change == "value":
        rec.value = VALUE.replace(b"StaffRoleGranted", b"StaffRoleRevoked")
    elif change == "hash":
        rec.value = VALUE.replace(b'"ab"', b'"ac"')
    else:
        rec.headers = [(SIGNATURE_HEADER, sig[:-1] + (b"0" if sig[-1:] != b"0" else b"1"))]
    with pytest.raises(Forged, match="does not check"):
        EventVerifier(ROOT).signer(rec)


def test_key_and_value_cannot_trade_bytes() -> None:
    """The key's length is signed: moving a byte from key to value is not the same record."""
    a = signed("accounts", key=b"ab", value=b"c")
    b = Rec(a.topic, b"a", b"bc", a.headers)
    with pytest.raises(Forged):
        EventVerifier(ROOT).signer(b)


@pytest.mark.parametrize(("producer", "event_type", "reason"), [
    ("retention", "accounts.StaffRoleGranted", "retention may not publish accounts.Staff"),
    ("accounts", "retention.SubjectKeyShredded", "accounts may not publish retention.Subj"),
    ("listings", "retention.SubjectExportOrdered", "listings may not publish retention.Sub"),
    ("accounts", "consent.ConsentDecisionRecorded", "accounts may not publish consent"),
    ("accounts", "jan@example.nl.Oops", "accounts may not publish an unknown event type"),
])
def test_a_signer_may_publish_only_its_own_event_types(
    producer: str, event_type: str, reason: str
) -> None:
    with pytest.raises(Forged, match=reason):
        EventVerifier.check_envelope(producer, producer, event_type)


def test_the_envelope_must_name_its_signer() -> None:
    with pytest.raises(Forged, match="not its signer"):
        EventVerifier.check_envelope("retention", "accounts", "accounts.StaffRoleGranted")


def test_signing_and_checking_cost_microseconds() -> None:
    """A budget of 40 µs of CPU per event (a later issue): each takes a few µs of it."""
    signer, verifier = EventSigner(ROOT, "accounts"), EventVerifier(ROOT)
    value = VALUE * 12  # about a kilobyte, a typical envelope
    rec = signed("accounts", value=value)
    n = 5000
    start = time.process_time()
    for _ in range(n):
        signer.sign("accounts.events.v1", b"subject", value)
    sign_us = (time.process_time() - start) / n * 1e6
    start = time.process_time()
    for _ in range(n):
        verifier.signer(rec)
    verify_us = (time.process_time() - start) / n * 1e6
    assert sign_us < 15 and verify_us < 15, (sign_us, verify_us)
