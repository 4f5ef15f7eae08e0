"""What every answer of the gateway carries for browsers, and where ``/metrics`` is served.

Every answer, errors included, gets HSTS, ``nosniff``, ``no-referrer`` and a Content
Security Policy: the API's JSON answers may load nothing and be framed by nobody; the
``/ops`` dashboard may run its own inline script (by hash) and poll its figures from the
gateway; the interactive API docs load their bundles from the CDN FastAPI names.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.ops import PAGE
from kernel.http import error_response

_SCRIPTS = re.findall(r"<script>(.*?)</script>", PAGE, flags=re.DOTALL)
_SCRIPT_HASHES = " ".join(
    f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
    for s in _SCRIPTS)

API_POLICY = ("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
              "form-action 'none'")
"""The CSP of every answer but the pages below: JSON loads nothing, is framed by nobody."""

OPS_POLICY = (f"default-src 'none'; script-src {_SCRIPT_HASHES}; style-src 'unsafe-inline'; "
              "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'")
"""The dashboard's CSP: its own inline script only (by hash), its figures from here."""

_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (f"default-src 'none'; script-src {_CDN} 'unsafe-inline'; "
               f"style-src {_CDN} 'unsafe-inline'; img-src 'self' data: "
               "https://fastapi.tiangolo.com https://cdn.redoc.ly; connect-src 'self'; "
               "worker-src blob:; font-src https://fonts.gstatic.com; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
"""The interactive docs' CSP (Swagger UI and ReDoc load their bundles from the CDN)."""

_COMMON = (
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def policy_for(path: str) -> str:
    """The Content Security Policy of an answer to ``path``."""
    if path == "/ops":
        return OPS_POLICY
    if path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        return DOCS_POLICY
    return API_POLICY


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer (set, never doubled)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = policy_for(scope["path"]).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (*_COMMON, (b"content-security-policy", csp)):
                    headers[name.decode()] = value.decode()
            await send(message)

        await self.app(scope, receive, send_with_headers)


class MetricsPortMiddleware:
    """With a metrics port set (deploy/), ``/metrics`` is answered on that port only, and
    that port answers nothing else: the public port, which an ingress or a published port
    exposes, never shows the platform's metrics.

    Args:
        app: The gateway.
        port: The internal metrics port; ``None`` (the embedded stack) serves ``/metrics``
            on the public port like every other route.
    """

    def __init__(self, app: ASGIApp, port: int | None) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.port is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        on_metrics_port = server is not None and server[1] == self.port
        if (scope["path"] == "/metrics") != on_metrics_port and scope["path"] != "/healthz":
            await error_response(404, "not_found", "no such route")(scope, receive, send)
            return
        await self.app(scope, receive, send)
