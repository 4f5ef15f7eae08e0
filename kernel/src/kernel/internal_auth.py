"""Signed internal calls: the gateway vouches for what it forwards, services check it.

The gateway signs every call to a service's internal API with an HMAC-SHA256 under the
platform's internal key (``MARKET_SECRETS_INTERNAL_KEY``). The signature covers what a
service acts on: the destination service, the method, the path and query as sent, a
digest of the body, the identity headers (account, session, step-up window, client
address, status token), an expiry a few seconds ahead and a one-time nonce (the covered
components of RFC 9421's HTTP message signatures, in a fixed order). A service refuses
with 401 a call that is unsigned, signed for another service, altered in any covered
part, stale or replayed, so its internal API is not trusted by network position alone:
on loopback as on a network.

A nonce is claimed in a store every replica of the service shares and that outlives a
restart (:class:`PostgresNonces`, a table in the service's own schema), so a captured
call is refused by another replica and after a restart too, for as long as it is valid.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg
import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.http import error_response
from kernel.logs import get_logger

log = get_logger(__name__)

SIGNATURE_HEADER = "x-internal-signature"
"""The header carrying the gateway's signature."""

SIGNED_HEADERS: tuple[str, ...] = (
    "x-account-id",
    "x-session-id",
    "x-step-up-until",
    "x-client-address",
    "x-status-token",
)
"""Headers a service may act on; covered by the signature whether present or absent."""

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""The only routes answered without a signature: liveness, readiness and metrics (no data)."""

_VERSION = "v2"
_MAX_SKEW = 5.0
_SERVICE = re.compile(r"[a-z][a-z0-9_-]{0,62}")


class InternalAuthSettings(BaseSettings):
    """The key signing internal calls (shared by the gateway and every service)."""

    model_config = SettingsConfigDict(env_prefix="MARKET_SECRETS_")

    internal_key: SecretStr = Field(
        description="HMAC key the gateway signs internal calls with (base64, 32 bytes)."
    )
    internal_call_seconds: float = Field(
        30.0, description="How long a signed internal call stays valid."
    )

    @field_validator("internal_key")
    @classmethod
    def _check_key(cls, value: SecretStr) -> SecretStr:
        if len(base64.b64decode(value.get_secret_value(), validate=True)) != 32:
            raise ValueError("must be 32 bytes, base64-encoded")
        return value

    def key_bytes(self) -> bytes:
        """The key as raw bytes."""
        return base64.b64decode(self.internal_key.get_secret_value())


def _canonical(
    service: str, exp: int, nonce: str, method: str, target: bytes, body: bytes,
    header: Callable[[str], str],
) -> bytes:
    parts = [_VERSION, service, str(exp), nonce, method.upper(), target.decode("latin-1"),
             hashlib.sha256(body).hexdigest()]
    parts += [f"{name}:{header(name)}" for name in SIGNED_HEADERS]
    return "\n".join(parts).encode()


def _mac(key: bytes, canonical: bytes) -> str:
    digest = hmac.new(key, canonical, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _lookup(headers: Mapping[str, str]) -> Callable[[str], str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lambda name: lowered.get(name, "")


class CallSigner:
    """Signs internal calls (the gateway; tests and tools that call a service directly).

    Args:
        key: The internal key.
        ttl: Seconds a signature stays valid.
        clock: Seconds since the epoch (injectable for tests).
    """

    def __init__(self, key: bytes, ttl: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._ttl = ttl
        self._clock = clock

    @classmethod
    def from_env(cls) -> CallSigner:
        """A signer with the key of ``MARKET_SECRETS_INTERNAL_KEY``."""
        settings = InternalAuthSettings()
        return cls(settings.key_bytes(), settings.internal_call_seconds)

    def sign(self, method: str, target: str | bytes, body: bytes | None,
             headers: Mapping[str, str], *, service: str) -> str:
        """The signature header value for one call.

        Args:
            method: The HTTP method.
            target: The path and query exactly as sent (``/internal/x?a=1``).
            body: The body exactly as sent.
            headers: The headers sent; the identity headers among them are covered.
            service: The destination service: no other service accepts the call.
        """
        if not _SERVICE.fullmatch(service):
            raise ValueError("a service name is lower-case letters, digits, - and _")
        exp = int(self._clock() + self._ttl)
        nonce = secrets.token_urlsafe(12)
        raw = target.encode() if isinstance(target, str) else target
        mac = _mac(self._key, _canonical(service, exp, nonce, method, raw, body or b"",
                                         _lookup(headers)))
        return f"{_VERSION}.{service}.{exp}.{nonce}.{mac}"


class InternalCallError(Exception):
    """Why a call was refused; ``code`` is stable, the message says what, never a value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NonceStore(Protocol):
    """Where a verifier claims each nonce once, until the call it signs expires."""

    async def claim(self, nonce: str, exp: int, now: float) -> bool:
        """Record ``nonce`` until ``exp``; ``False`` if it was recorded already."""
        ...


class MemoryNonces:
    """Nonces in this process only (unit tests; a tool's one-off verifier)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._next_purge = 0.0

    async def claim(self, nonce: str, exp: int, now: float) -> bool:
        """Record ``nonce`` until ``exp``; ``False`` if it was recorded already."""
        if nonce in self._seen:
            return False
        self._seen[nonce] = exp
        if now >= self._next_purge:
            self._seen = {n: e for n, e in self._seen.items() if e >= now}
            self._next_purge = now + 1.0
        return True


def nonce_ddl(schema: str) -> str:
    """The table of claimed nonces in a service's schema (shared by its replicas)."""
    return f"""
CREATE TABLE IF NOT EXISTS {schema}.internal_nonces (
    nonce      text PRIMARY KEY,
    expires_at bigint NOT NULL
);
"""


class PostgresNonces:
    """Nonces in the service's own schema: every replica claims in one table, which
    outlives restarts. One statement per call (``INSERT ... ON CONFLICT DO NOTHING``);
    expired rows are deleted every few seconds, off the call's path, by each replica.

    Its own small pool commits asynchronously (``synchronous_commit=off``): a claim does
    not wait for the WAL flush (~0.5 ms instead of one fsync, 2-10 ms here), and a
    database crash can forget at most the claims of the last ~0.6 s (three WAL-writer
    rounds), which a captured call would still have to be replayed within its 30 s.

    Args:
        schema: The service's schema.
        purge_every: Seconds between deletions of expired nonces.
    """

    def __init__(self, schema: str, purge_every: float = 5.0) -> None:
        self._schema = schema
        self._insert = (f"INSERT INTO {schema}.internal_nonces (nonce, expires_at) "
                        "VALUES ($1, $2) ON CONFLICT DO NOTHING")
        self._purge = f"DELETE FROM {schema}.internal_nonces WHERE expires_at < $1"
        self._every = purge_every
        self._next_purge = 0.0
        self._purging: asyncio.Task[None] | None = None
        self._pool: asyncpg.Pool | None = None

    async def open(self, dsn: str) -> None:
        """Make the pool (no connection yet: the database may still be starting)."""
        self._pool = await asyncpg.create_pool(
            dsn, min_size=0, max_size=4, timeout=3.0, command_timeout=3.0,
            server_settings={"application_name": f"{self._schema}-nonces",
                             "synchronous_commit": "off"})

    async def close(self) -> None:
        """Close the pool."""
        if self._purging is not None:
            self._purging.cancel()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.wait_for(pool.close(), 5.0)

    async def claim(self, nonce: str, exp: int, now: float) -> bool:
        """Record ``nonce`` until ``exp``; ``False`` if any replica recorded it already.

        Raises:
            NonceStoreUnavailable: the service's database cannot record it.
        """
        pool = self._pool
        if pool is None:
            raise NonceStoreUnavailable("the service is starting")
        try:
            status = await pool.execute(self._insert, nonce, exp)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise NonceStoreUnavailable(type(exc).__name__) from exc
        if now >= self._next_purge and (self._purging is None or self._purging.done()):
            self._next_purge = now + self._every
            self._purging = asyncio.create_task(self._expire(pool, int(now)))
        return bool(status.endswith(" 1"))

    async def _expire(self, pool: asyncpg.Pool, now: int) -> None:
        try:
            await pool.execute(self._purge, now)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("internal_auth.nonce_purge_failed", error=type(exc).__name__)


class NonceStoreUnavailable(Exception):
    """The nonce could not be recorded: the call is not accepted (503, retry)."""


@dataclass
class CallVerifier:
    """Checks signed internal calls for one service; claims each nonce once (no replay).

    Args:
        key: The internal key.
        service: The service verifying: a call signed for another one is refused.
        ttl: The longest validity a signer may give.
        clock: Seconds since the epoch.
        nonces: Where nonces are claimed; a service's replicas share one.
    """

    key: bytes
    service: str
    ttl: float = 30.0
    clock: Callable[[], float] = time.time
    nonces: NonceStore = field(default_factory=MemoryNonces)

    async def verify(self, method: str, target: bytes, body: bytes, signature: str,
                     headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Accept the call or raise :class:`InternalCallError`.

        Raises:
            InternalCallError: the call is refused (401).
            NonceStoreUnavailable: its nonce could not be recorded (503).
        """
        try:
            version, service, exp_text, nonce, mac = signature.split(".")
            exp = int(exp_text)
        except ValueError:
            raise InternalCallError("bad_signature", "the signature is malformed") from None
        if version != _VERSION:
            raise InternalCallError("bad_signature", "unknown internal signature version")
        if not hmac.compare_digest(service.encode(), self.service.encode()):
            raise InternalCallError("wrong_service", "the call was signed for another service")
        now = self.clock()
        if exp < now or exp > now + self.ttl + _MAX_SKEW:
            raise InternalCallError("signature_expired", "the internal signature has expired")
        values: dict[str, list[str]] = {}
        for name, value in headers:
            key = name.decode("latin-1").lower()
            if key in SIGNED_HEADERS:
                values.setdefault(key, []).append(value.decode("latin-1"))
        if any(len(v) > 1 for v in values.values()):
            raise InternalCallError("bad_signature", "an identity header is repeated")
        expected = _mac(self.key, _canonical(self.service, exp, nonce, method, target, body,
                                             lambda n: values.get(n, [""])[0]))
        if not hmac.compare_digest(expected, mac):
            raise InternalCallError("bad_signature", "the internal signature does not match")
        if not await self.nonces.claim(nonce, exp, now):
            raise InternalCallError("signature_replayed", "the internal call was replayed")


class InternalAuthMiddleware:
    """Refuses every call but :data:`OPEN_PATHS` unless the gateway signed it (401).

    The body is read whole (the body limit runs outside this middleware) so that its
    digest can be checked, then handed on unchanged.
    """

    def __init__(self, app: ASGIApp, verifier: CallVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        signature = ""
        for name, value in scope["headers"]:
            if name == SIGNATURE_HEADER.encode():
                signature = value.decode("latin-1")
        if not signature:
            await _refuse(scope, receive, send, "unsigned", "internal calls must be signed")
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            await self.verifier.verify(scope["method"], request_target(scope), body,
                                       signature, scope["headers"])
        except InternalCallError as exc:
            await _refuse(scope, receive, send, exc.code, exc.message)
            return
        except NonceStoreUnavailable:
            response = error_response(503, "unavailable", "the service cannot check calls "
                                      "now", {"Retry-After": "1"})
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def request_target(scope: Scope) -> bytes:
    """The path and query of a request as the client sent them."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    raw = raw.split(b"?", 1)[0]
    query: bytes = scope.get("query_string", b"")
    return raw + b"?" + query if query else raw


async def _refuse(scope: Scope, receive: Receive, send: Send, code: str, message: str) -> None:
    response = error_response(401, code, message)
    await response(scope, receive, send)


class SignedCalls(httpx.Auth):
    """httpx auth signing every request like the gateway does (tests, tools, benchmarks).

    Args:
        service: The service called: only it accepts the calls.
        signer: The signer; by default one with the key from the environment.
    """

    requires_request_body = True

    def __init__(self, service: str, signer: CallSigner | None = None) -> None:
        self.service = service
        self.signer = signer or CallSigner.from_env()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature header to ``request``."""
        request.headers[SIGNATURE_HEADER] = self.signer.sign(
            request.method, request.url.raw_path, request.content, dict(request.headers),
            service=self.service,
        )
        yield request


def new_internal_key() -> str:
    """A fresh internal key, base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode()
