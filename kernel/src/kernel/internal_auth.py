"""Signed internal calls: the gateway vouches for what it forwards, services check it.

The gateway signs every call to a service's internal API with an HMAC-SHA256 under the
platform's internal key (``MARKET_SECRETS_INTERNAL_KEY``). The signature covers what a
service acts on: the method, the path and query as sent, a digest of the body, the
identity headers (account, session, step-up window, client address, status token), an
expiry a few seconds ahead and a one-time nonce (the covered components of RFC 9421's
HTTP message signatures, in a fixed order). A service refuses with 401 a call that is
unsigned, altered in any covered part, stale or replayed, so its internal API is not
trusted by network position alone: on loopback as on a network.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.http import error_response

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

_VERSION = "v1"
_MAX_SKEW = 5.0


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
    exp: int, nonce: str, method: str, target: bytes, body: bytes,
    header: Callable[[str], str],
) -> bytes:
    parts = [_VERSION, str(exp), nonce, method.upper(), target.decode("latin-1"),
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
             headers: Mapping[str, str]) -> str:
        """The signature header value for one call.

        Args:
            method: The HTTP method.
            target: The path and query exactly as sent (``/internal/x?a=1``).
            body: The body exactly as sent.
            headers: The headers sent; the identity headers among them are covered.
        """
        exp = int(self._clock() + self._ttl)
        nonce = secrets.token_urlsafe(12)
        raw = target.encode() if isinstance(target, str) else target
        mac = _mac(self._key, _canonical(exp, nonce, method, raw, body or b"",
                                         _lookup(headers)))
        return f"{_VERSION}.{exp}.{nonce}.{mac}"


class InternalCallError(Exception):
    """Why a call was refused; ``code`` is stable, the message says what, never a value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CallVerifier:
    """Checks signed internal calls; remembers nonces until they expire (no replay).

    Args:
        key: The internal key.
        ttl: The longest validity a signer may give.
        clock: Seconds since the epoch.
    """

    key: bytes
    ttl: float = 30.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._next_purge = 0.0

    def verify(self, method: str, target: bytes, body: bytes, signature: str,
               headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Accept the call or raise :class:`InternalCallError`."""
        try:
            version, exp_text, nonce, mac = signature.split(".")
            exp = int(exp_text)
        except ValueError:
            raise InternalCallError("bad_signature", "the signature is malformed") from None
        if version != _VERSION:
            raise InternalCallError("bad_signature", "unknown internal signature version")
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
        expected = _mac(self.key, _canonical(exp, nonce, method, target, body,
                                             lambda n: values.get(n, [""])[0]))
        if not hmac.compare_digest(expected, mac):
            raise InternalCallError("bad_signature", "the internal signature does not match")
        if nonce in self._seen:
            raise InternalCallError("signature_replayed", "the internal call was replayed")
        self._remember(nonce, exp, now)

    def _remember(self, nonce: str, exp: int, now: float) -> None:
        self._seen[nonce] = exp
        if now >= self._next_purge:
            self._seen = {n: e for n, e in self._seen.items() if e >= now}
            self._next_purge = now + 1.0


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
            self.verifier.verify(scope["method"], request_target(scope), body, signature,
                                 scope["headers"])
        except InternalCallError as exc:
            await _refuse(scope, receive, send, exc.code, exc.message)
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
        signer: The signer; by default one with the key from the environment.
    """

    requires_request_body = True

    def __init__(self, signer: CallSigner | None = None) -> None:
        self.signer = signer or CallSigner.from_env()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature header to ``request``."""
        request.headers[SIGNATURE_HEADER] = self.signer.sign(
            request.method, request.url.raw_path, request.content, dict(request.headers)
        )
        yield request


def new_internal_key() -> str:
    """A fresh internal key, base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode()
