"""What route modules need: calling services, and the authenticated session."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import aiohttp
import orjson
import yarl
from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernel.http import ApiError
from kernel.internal_auth import SIGNATURE_HEADER, CallSigner
from kernel.logs import get_logger
from kernel.telemetry import current_traceparent

log = get_logger(__name__)

bearer = HTTPBearer(auto_error=False, description="Session token from POST /v1/sessions.")

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""Every id of the API (API.md: a path parameter not of its type answers 404)."""

_SAFE_PATH = re.compile(r"^(/[A-Za-z0-9_~!$&'()*+,;=:@%.-]+)+$")
_FIELDS = string.Formatter()


def internal_path(template: str, **segments: str) -> str:
    """An internal URL path: ``template``'s ``{name}`` fields, each replaced by its segment
    percent-encoded whole (``quote(seg, safe="")``), so that no ``?``, ``#``, ``/``, ``%``
    or control character in a value can end the path, start a query or reach another
    route (issue 26, SEC-2). An empty, ``.`` or ``..`` segment is refused with 404.

    Args:
        template: e.g. ``"/internal/accounts/{account_id}/public"``.
        segments: One value per field of the template.
    """
    names = {field for _, field, _, _ in _FIELDS.parse(template) if field is not None}
    if names != set(segments):
        raise ValueError("the segments must name exactly the template's fields")
    for value in segments.values():
        if value in ("", ".", ".."):
            raise ApiError(404, "not_found", "no such resource")
    return template.format_map({k: quote(v, safe="") for k, v in segments.items()})


def path_param(name: str, pattern: str, what: str, description: str) -> Any:
    """A path parameter that answers 404 ``not_found`` unless it matches ``pattern`` whole,
    checked before anything else is called (API.md, issue 26).

    Use as ``Annotated[str, path_param("listing_id", UUID_PATTERN, "listing", "...")]``;
    the pattern is documented in the OpenAPI schema.
    """
    matcher = re.compile(pattern)
    extra: dict[str, Any] = {"pattern": pattern}
    if pattern == UUID_PATTERN:
        extra["format"] = "uuid"

    async def checked(value: str) -> str:
        if not matcher.fullmatch(value):
            raise ApiError(404, "not_found", f"no such {what}")
        return value.lower() if pattern == UUID_PATTERN else value

    # Set as an object, not a string: FastAPI cannot resolve this closure's names.
    checked.__annotations__["value"] = Annotated[
        str, Path(alias=name, description=description, json_schema_extra=extra)]
    return Depends(checked)


def uuid_param(name: str, what: str, description: str) -> Any:
    """A UUID path parameter; anything else is a 404 (see :func:`path_param`)."""
    return path_param(name, UUID_PATTERN, what, description)


@dataclass(frozen=True)
class UpstreamResponse:
    """A service's answer, read whole."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode()


class Upstreams:
    """Keep-alive HTTP clients of the services (aiohttp: cheap per call); every call signed.

    Args:
        urls: Each service's base URL.
        timeout: Seconds before a call fails.
        signer: Signs each call (method, target, body, identity headers, expiry).
    """

    def __init__(self, urls: dict[str, str], timeout: float, signer: CallSigner) -> None:
        self.urls = urls
        self.signer = signer
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _request(
        self, service: str, method: str, path: str, body: bytes | None,
        params: dict[str, str] | None, headers: dict[str, str],
    ) -> UpstreamResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=100),
            )
        url = yarl.URL(self.urls[service] + path, encoded=True)
        if params:
            url = url.with_query(params)
        headers[SIGNATURE_HEADER] = self.signer.sign(method, url.raw_path_qs, body, headers,
                                                      service=service)
        async with self._session.request(method, url, data=body, headers=headers) as resp:
            return UpstreamResponse(resp.status, await resp.read(), resp.headers)

    async def call(
        self, service: str, method: str, path: str, *, json: Any = None,
        params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> UpstreamResponse:
        """Call a service's internal API; a service that does not answer is a 503.

        ``content`` is a JSON body passed on byte for byte (a signed webhook's), not ``json``.
        ``path`` is a literal or comes from :func:`internal_path`: one with a query, a
        fragment, a dot segment or an unencoded character never leaves the gateway (404).
        """
        if not _SAFE_PATH.fullmatch(path) or "/./" in path + "/" or "/../" in path + "/":
            log.error("gateway.unsafe_internal_path", service=service)
            raise ApiError(404, "not_found", "no such resource")
        sent = dict(headers or {})
        trace = current_traceparent()
        if trace:
            sent["traceparent"] = trace
        body = content
        if content is not None:
            sent["content-type"] = "application/json"
        elif json is not None:
            body = orjson.dumps(json)
            sent["content-type"] = "application/json"
        if params:
            params = {k: str(v) for k, v in params.items() if v is not None}
        try:
            return await self._request(service, method, path, body, params, sent)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("gateway.upstream_unavailable", service=service,
                        error=type(exc).__name__)
            raise ApiError(503, "unavailable", f"the {service} service is unavailable",
                           {"Retry-After": "1"}) from exc

    async def close(self) -> None:
        """Close the client session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def upstreams(request: Request) -> Upstreams:
    """The gateway's service clients."""
    ups: Upstreams = request.app.state.upstreams
    return ups


def forward(resp: UpstreamResponse) -> Response:
    """The upstream answer as the gateway's answer (status, JSON body, Retry-After)."""
    headers = {k: v for k, v in resp.headers.items() if k.lower() in ("retry-after", "location")}
    if resp.status_code == 204 or not resp.content:
        return Response(status_code=resp.status_code, headers=headers)
    if resp.status_code >= 500 and resp.status_code != 503:
        return JSONResponse({"error": {"code": "upstream_error", "message": "service error"}},
                            status_code=502)
    try:
        body = resp.json()
    except ValueError:
        return JSONResponse({"error": {"code": "upstream_error", "message": "bad answer"}},
                            status_code=502)
    return JSONResponse(body, status_code=resp.status_code, headers=headers)


@dataclass(frozen=True)
class Session:
    """The authenticated member behind a bearer token."""

    account_id: str
    session_id: str
    kind: str
    remember_me: bool
    expires_at: datetime
    step_up_until: datetime | None
    token: str

    def stepped_up(self, now: datetime | None = None) -> bool:
        """Whether the step-up window is open (ACC-4, PRV-7)."""
        now = now or datetime.now(UTC)
        return self.step_up_until is not None and self.step_up_until > now

    def headers(self) -> dict[str, str]:
        """Identity headers for a service call (the gateway's signature covers them)."""
        sent = {"X-Account-Id": self.account_id, "X-Session-Id": self.session_id}
        if self.step_up_until is not None:
            sent["X-Step-Up-Until"] = self.step_up_until.isoformat()
        return sent


async def _introspect(request: Request, token: str) -> Session | None:
    resp = await request.app.state.upstreams.call(
        "accounts", "POST", "/internal/sessions/introspect", json={"token": token}
    )
    if resp.status_code == 401:
        return None
    if resp.status_code != 200:
        raise ApiError(503, "unavailable", "the accounts service is unavailable",
                       {"Retry-After": "1"})
    data = resp.json()
    step = data.get("step_up_until")
    return Session(
        account_id=data["account_id"], session_id=data["session_id"],
        kind=data.get("kind", "member"), remember_me=bool(data.get("remember_me")),
        expires_at=datetime.fromisoformat(data["expires_at"]),
        step_up_until=datetime.fromisoformat(step) if step else None, token=token,
    )


async def optional_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Session | None:
    """The session if a valid bearer token was sent, else ``None``."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    return await _introspect(request, credentials.credentials)


async def current_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Session:
    """The authenticated session; 401 ``unauthenticated`` for a missing or dead token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthenticated", "a valid bearer token is required",
                       {"WWW-Authenticate": "Bearer"})
    session = await _introspect(request, credentials.credentials)
    if session is None:
        raise ApiError(401, "unauthenticated", "the token is invalid or has ended",
                       {"WWW-Authenticate": "Bearer"})
    return session


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str | None:
    """The raw bearer token, if any (for status tokens of privacy requests)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    return credentials.credentials


CurrentSession = Annotated[Session, Depends(current_session)]
OptionalSession = Annotated[Session | None, Depends(optional_session)]
Ups = Annotated[Upstreams, Depends(upstreams)]
BearerToken = Annotated[str | None, Depends(bearer_token)]
