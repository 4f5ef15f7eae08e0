"""Sealed stream heads (AUD-2): a stream's last version and hash, signed with a platform key,
so that events cut from the end of a stream, in the event store and the log alike, are
found: a chain that ends before its sealed head, or differs from it, was cut or rewritten.

The key is derived from the blind-index root secret (``MARKET_SECRETS_INDEX_KEY``), which
the services' database role never holds in a table: whoever can rewrite the event store
cannot forge a seal. A seal is kept twice, in PostgreSQL and in a compacted Kafka topic;
the verifier takes the highest authentic version of each stream from both, so rolling one
place back to an older seal is not enough.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_LABEL = b"marketplace stream heads v1"


class Linked(Protocol):
    """What the check needs of an event: its version and hash (hex)."""

    version: int
    hash: str


def heads_key(index_key: bytes) -> bytes:
    """The sealing key, derived from the blind-index root secret."""
    return hmac.new(index_key, _LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class SealedHead:
    """One stream's head as sealed at ``sealed_at`` (ISO-8601)."""

    producer: str
    stream_id: str
    version: int
    hash: str
    sealed_at: str
    mac: str

    @property
    def key(self) -> tuple[str, str]:
        """The stream: ``(producer, stream_id)``."""
        return self.producer, self.stream_id

    def as_json(self) -> dict[str, Any]:
        """The record published and stored."""
        return {"producer": self.producer, "stream_id": self.stream_id,
                "version": self.version, "hash": self.hash, "sealed_at": self.sealed_at,
                "mac": self.mac}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SealedHead:
        """Parse a record; raises ``KeyError``/``ValueError``/``TypeError`` if malformed."""
        return cls(str(data["producer"]), str(data["stream_id"]), int(data["version"]),
                   str(data["hash"]), str(data["sealed_at"]), str(data["mac"]))


def _mac(key: bytes, producer: str, stream_id: str, version: int, digest: str,
         sealed_at: str) -> str:
    text = "\x1f".join((producer, stream_id, str(version), digest, sealed_at))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def seal(key: bytes, producer: str, stream_id: str, version: int, digest: str,
         sealed_at: str) -> SealedHead:
    """Sign one stream's head."""
    return SealedHead(producer, stream_id, version, digest, sealed_at,
                      _mac(key, producer, stream_id, version, digest, sealed_at))


def authentic(key: bytes, head: SealedHead) -> bool:
    """Whether the seal was made with ``key`` over exactly these fields."""
    want = _mac(key, head.producer, head.stream_id, head.version, head.hash, head.sealed_at)
    return hmac.compare_digest(want, head.mac)


def newest(key: bytes, heads: Iterable[SealedHead]) -> tuple[
        dict[tuple[str, str], SealedHead], list[SealedHead]]:
    """The highest authentic seal of each stream, and the seals that are forged."""
    best: dict[tuple[str, str], SealedHead] = {}
    forged: list[SealedHead] = []
    for head in heads:
        if not authentic(key, head):
            forged.append(head)
        elif head.key not in best or head.version > best[head.key].version:
            best[head.key] = head
    return best, forged


def check_sealed(
    chains: Mapping[tuple[str, str], Sequence[Linked]],
    sealed: Mapping[tuple[str, str], SealedHead], where: str,
) -> list[dict[str, Any]]:
    """A break for each stream of ``chains`` (version order) that ends before its sealed
    head or holds another event at the sealed version."""
    found: list[dict[str, Any]] = []
    for key, head in sorted(sealed.items()):
        chain = chains.get(key, ())
        at = next((ev for ev in chain if ev.version == head.version), None)
        last = chain[-1].version if chain else 0
        if at is None and last < head.version:
            reason = (f"{where} ends at version {last}, the head sealed at {head.sealed_at} "
                      f"is version {head.version}: events cut from the end of the stream")
        elif at is None:
            reason = f"{where} lacks the sealed version {head.version}"
        elif at.hash != head.hash:
            reason = f"{where} holds another event at the sealed version {head.version}"
        else:
            continue
        found.append({"producer": key[0], "stream_id": key[1],
                      "version": min(last + 1, head.version), "reason": reason})
    return found
