"""Unwrapped data keys cached briefly in a service, dropped at once on erasure (RET-5)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from datetime import datetime

from kernel.crypto import DataKey
from kernel.keystore import KeyStore, Scopes, SubjectErasedError


class _Coalescer:
    """Merges concurrent lookups into one key-store round trip (one batch in flight)."""

    def __init__(
        self, fetch: Callable[[list[str]], Awaitable[Mapping[str, DataKey | None]]]
    ) -> None:
        self._fetch = fetch
        self._pending: dict[str, asyncio.Future[DataKey | None]] = {}
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def get(self, subject_ids: Iterable[str]) -> dict[str, DataKey | None]:
        loop = asyncio.get_running_loop()
        futures = {}
        for s in subject_ids:
            fut = self._pending.get(s)
            if fut is None:
                fut = self._pending[s] = loop.create_future()
            futures[s] = fut
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush())
        return {s: await f for s, f in futures.items()}

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    found = await self._fetch(list(batch))
                except BaseException as exc:
                    for fut in batch.values():
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for s, fut in batch.items():
                    if not fut.done():
                        fut.set_result(found.get(s))
        finally:
            self._flushing = False


class CachedKeyStore:
    """Keeps unwrapped keys for a short time; erasure drops them at once.

    Concurrent cache misses are coalesced into one batched round trip to the store.
    """

    def __init__(self, inner: KeyStore, ttl_seconds: float, max_entries: int = 100_000) -> None:
        self._inner = inner
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: dict[str, tuple[float, DataKey]] = {}
        self._writers = _Coalescer(self._create)
        self._readers = _Coalescer(self._read)

    async def _create(self, ids: list[str]) -> Mapping[str, DataKey | None]:
        try:
            return await self._inner.keys_for_writing(ids)
        except SubjectErasedError as exc:
            erased = set(exc.subject_ids)
            fine = [s for s in ids if s not in erased]
            out: dict[str, DataKey | None] = dict(
                await self._inner.keys_for_writing(fine) if fine else {}
            )
            out.update({s: None for s in erased})
            return out

    async def _read(self, ids: list[str]) -> Mapping[str, DataKey | None]:
        return await self._inner.keys_for_reading(ids)

    def _hit(self, subject_id: str, now: float) -> DataKey | None:
        entry = self._cache.get(subject_id)
        if entry is None or entry[0] < now:
            return None
        return entry[1]

    def _store(self, keys: Mapping[str, DataKey | None], now: float) -> None:
        if len(self._cache) + len(keys) > self._max:
            self._cache.clear()
        expiry = now + self._ttl
        for s, k in keys.items():
            if k is not None:
                self._cache[s] = (expiry, DataKey(k.subject_id, k.aead) if k.scoped else k)

    def _split(
        self, subject_ids: Iterable[str], now: float, scopes: Scopes | None = None
    ) -> tuple[dict[str, DataKey], list[str], dict[str, set[str]]]:
        """Cached keys, the subjects that need a look-up, and those that need new scopes."""
        hits: dict[str, DataKey] = {}
        missing = []
        rescope: dict[str, set[str]] = {}
        wanted = {s: set(w) for s, w in (scopes or {}).items() if w}
        for s in set(subject_ids) | set(wanted):
            key = self._hit(s, now)
            if s in wanted:  # scoped keys are never cached: their period may end any time
                rescope[s] = wanted[s]
            elif key is None:
                missing.append(s)
            else:
                hits[s] = key
        return hits, missing, rescope

    async def keys_for_writing(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey]:
        """Keys to encrypt with, created when missing; raises ``SubjectErasedError``.

        Subjects that need scoped keys go to the store in one batch of their own: scoped
        keys are not cached, so that no process keeps one after its period was expired.
        """
        now = time.monotonic()
        out, missing, rescope = self._split(subject_ids, now, scopes)
        if missing:
            fresh = await self._writers.get(missing)
            erased = [s for s, k in fresh.items() if k is None]
            if erased:
                raise SubjectErasedError(erased)
            self._store(fresh, now)
            out.update({s: k for s, k in fresh.items() if k is not None})
        if rescope:
            scoped = await self._inner.keys_for_writing(rescope, rescope)
            self._store(scoped, now)
            out.update(scoped)
        return out

    async def keys_for_reading(
        self, subject_ids: Iterable[str], scopes: Scopes | None = None
    ) -> dict[str, DataKey | None]:
        """Keys to decrypt with; ``None`` for erased or unknown subjects.

        Subjects with wanted scopes are looked up in the store (scoped keys are not
        cached): their keys may have been created or destroyed by another process.
        """
        now = time.monotonic()
        hits, missing, rescope = self._split(subject_ids, now, scopes)
        out: dict[str, DataKey | None] = dict(hits)
        missing.extend(rescope)
        if missing:
            fresh = await self._readers.get(missing)
            self._store(fresh, now)
            out.update(fresh)
        return out

    async def destroy(self, subject_id: str, keep: Collection[str] = ()) -> bool:
        """Destroy the key in the store (but ``keep``'s categories' scoped keys) and here."""
        self.forget(subject_id)
        existed = await self._inner.destroy(subject_id, keep)
        self.forget(subject_id)
        return existed

    async def expire(self, category: str, ended_before: datetime,
                     subject_id: str | None = None) -> int:
        """Destroy a category's keys of ended periods in the store (none are cached here)."""
        return await self._inner.expire(category, ended_before, subject_id)

    async def is_erased(self, subject_id: str) -> bool:
        """Whether the subject is in the erased register."""
        return await self._inner.is_erased(subject_id)

    def forget(self, subject_id: str) -> None:
        """Drop the cached key (on the erasure event)."""
        self._cache.pop(subject_id, None)
        self._inner.forget(subject_id)

    async def ping(self) -> None:
        """Raise if the store is unreachable."""
        ping = getattr(self._inner, "ping", None)
        if ping is not None:
            await ping()

    def __len__(self) -> int:
        return len(self._cache)
