"""Events signed by their producer: a record anyone else wrote on the broker changes nothing.

Each service signs every record it publishes with an HMAC-SHA256 under a key of its own,
derived (HKDF-SHA256, the service's name in ``info``) from the platform's internal key,
the root secret every service and the gateway already hold. The signature covers the
topic, the record's key and its whole value (the envelope, ``hash`` included) as bytes,
so nothing is serialised again to sign or to check it, and goes in the record's
``signature`` header with the producer's name.

A consumer accepts a record only when the signature checks under the named producer's
key, the producer owns the topic and the envelope's event type belongs to that producer
(``contracts.topics``): a forged ``StaffRoleGranted``, a key shred or an export order
that accounts or retention did not sign, one signed by another service, or one a service
signed for a type of someone else's is refused before its JSON is parsed or, for the last
two checks, before anything is applied.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from contracts.envelope import Event
from contracts.topics import SERVICES, TOPIC_PRODUCERS, owns_event_type

SIGNATURE_HEADER = "signature"
"""The record header holding ``v1;<producer>;<hex HMAC>``."""

_VERSION = b"v1"
_SALT = b"secondjob/kafka-event-signing"


class Forged(Exception):
    """A record its claimed producer did not sign; the message names why, never a value."""


class SignedRecord(Protocol):
    """What signing and checking read of a Kafka record (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def producer_key(root: bytes, producer: str) -> bytes:
    """The signing key of ``producer``: HKDF-SHA256 of the root secret, named by producer."""
    return HKDF(algorithm=SHA256(), length=32, salt=_SALT,
                info=b"event-signing:v1:" + producer.encode()).derive(root)


def _mac(key: bytes, topic: bytes, record_key: bytes | None, value: bytes) -> bytes:
    # The key's length goes first: topic, key and value can never be shifted into another.
    k = record_key or b""
    return hmac.digest(key, b"".join((topic, b"\0", len(k).to_bytes(4, "big"), k, value)),
                       "sha256")


class EventSigner:
    """Signs the records one service publishes.

    Args:
        root: The platform's root secret (the internal key's bytes).
        producer: The service publishing.
    """

    def __init__(self, root: bytes, producer: str) -> None:
        self.producer = producer
        self._key = producer_key(root, producer)
        self._prefix = _VERSION + b";" + producer.encode() + b";"

    def sign(self, topic: str, key: bytes | None, value: bytes) -> bytes:
        """The ``signature`` header's value for a record of ``topic``."""
        return self._prefix + _mac(self._key, topic.encode(), key, value).hex().encode()

    def header(self, topic: str, key: bytes | None, value: bytes) -> tuple[str, bytes]:
        """The ``signature`` header for a record of ``topic``."""
        return SIGNATURE_HEADER, self.sign(topic, key, value)


class EventVerifier:
    """Checks that a record was signed by the service that owns its topic.

    Args:
        root: The platform's root secret (the internal key's bytes).
        producers: Every service that may sign.
        topic_producers: Which producer writes each topic (``contracts.topics``; a test
            gives a topic of its own).
    """

    def __init__(self, root: bytes, producers: Iterable[str] = SERVICES,
                 topic_producers: Mapping[str, str] = TOPIC_PRODUCERS) -> None:
        self._keys = {p.encode(): (p, producer_key(root, p)) for p in producers}
        self._owners = topic_producers

    def signer(self, record: SignedRecord) -> str:
        """The producer who signed ``record``, after checking it may write its topic.

        Raises:
            Forged: unsigned, signed by nobody known, by a producer that does not own the
                topic, or a signature that does not check.
        """
        signature = None
        for name, value in record.headers or ():
            if name == SIGNATURE_HEADER:
                signature = value
        if signature is None:
            raise Forged("unsigned")
        version, _, rest = bytes(signature).partition(b";")
        claimed, _, mac = rest.partition(b";")
        if version != _VERSION:
            raise Forged("unknown signature version")
        known = self._keys.get(claimed)
        if known is None:
            raise Forged("signed by an unknown producer")
        producer, key = known
        if self._owners.get(record.topic) != producer:
            raise Forged(f"{producer} does not own topic {record.topic}")
        expected = _mac(key, record.topic.encode(), record.key, record.value or b"").hex()
        if not hmac.compare_digest(expected.encode(), mac):
            raise Forged(f"signature does not check for {producer}")
        return producer

    @staticmethod
    def check_envelope(signer: str, producer: str, event_type: str) -> None:
        """Check that the envelope's producer signed it and its event type is the signer's.

        Raises:
            Forged: the envelope names another producer, or a type the signer may not
                publish (named only when it is a known type: the value is the sender's).
        """
        if producer != signer:
            raise Forged(f"envelope's producer is not its signer {signer}")
        if not owns_event_type(signer, event_type):
            known = any(t == event_type for t, _ in Event.registry)
            raise Forged(f"{signer} may not publish "
                         f"{event_type if known else 'an unknown event type'}")

    def check(self, record: SignedRecord, producer: str, event_type: str) -> str:
        """:meth:`signer` and :meth:`check_envelope` in one; returns the signer."""
        signer = self.signer(record)
        self.check_envelope(signer, producer, event_type)
        return signer
