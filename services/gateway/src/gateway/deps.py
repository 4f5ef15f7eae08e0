"""What route modules need: calling services, and the authenticated session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernel.http import ApiError
from kernel.logs import get_logger
from kernel.telemetry import current_traceparent

log = get_logger(__name__)

bearer = HTTPBearer(auto_error=False, description="Session token from POST /v1/sessions.")


class Upstreams:
    """HTTP clients of the services, with keep-alive, on loopback."""

    def __init__(self, urls: dict[str, str], timeout: float) -> None:
        self.urls = urls
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
        self._clients = {
            name: httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits)
            for name, url in urls.items()
        }

    async def call(
        self, service: str, method: str, path: str, *, json: Any = None,
        params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Call a service's internal API; a service that does not answer is a 503."""
        sent = dict(headers or {})
        trace = current_traceparent()
        if trace:
            sent["traceparent"] = trace
        try:
            return await self._clients[service].request(
                method, path, json=json, params=params, headers=sent
            )
        except httpx.TransportError as exc:
            log.warning("gateway.upstream_unavailable", service=service,
                        error=type(exc).__name__)
            raise ApiError(503, "unavailable", f"the {service} service is unavailable",
                           {"Retry-After": "1"}) from exc

    async def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()


def upstreams(request: Request) -> Upstreams:
    """The gateway's service clients."""
    ups: Upstreams = request.app.state.upstreams
    return ups


def forward(resp: httpx.Response) -> Response:
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
        """Identity headers for a service call."""
        return {"X-Account-Id": self.account_id, "X-Session-Id": self.session_id}


async def _introspect(request: Request, token: str) -> Session | None:
    resp = await upstreams(request).call(
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


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str | None:
    """The raw bearer token, if any (for status tokens of privacy requests)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    return credentials.credentials


CurrentSession = Annotated[Session, Depends(current_session)]
OptionalSession = Annotated[Session | None, Depends(optional_session)]
Ups = Annotated[Upstreams, Depends(upstreams)]
