"""Issue 26: every answer of the gateway carries the browser security headers (HSTS,
nosniff, no-referrer, a CSP that forbids framing), and with a metrics port set (deploy/)
the public port never answers ``/metrics``."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from gateway.app import create_app
from gateway.ops import PAGE
from gateway.settings import GatewaySettings
from kernel.internal_auth import new_internal_key

pytestmark = pytest.mark.unit


def _client(metrics_port: int | None = None, port: int = 8000) -> httpx.AsyncClient:
    app = create_app(GatewaySettings(metrics_port=metrics_port,
                                     internal_auth={"internal_key": new_internal_key()}))
    # an ASGI client without the lifespan: these answers need no service
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url=f"http://gateway:{port}")


def _checked(resp: httpx.Response) -> str:
    h = resp.headers
    assert h["strict-transport-security"].startswith("max-age=")
    assert int(h["strict-transport-security"].split("=")[1].split(";")[0]) >= 31536000
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    csp: str = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert h.get_list("content-security-policy") == [csp]  # set once, never doubled
    return csp


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/healthz"), ("GET", "/asyncapi.json"), ("GET", "/no-such-route"),
    ("POST", "/healthz"), ("DELETE", "/healthz"), ("GET", "/openapi.json"),
])
async def test_every_answer_carries_the_security_headers(method: str, path: str) -> None:
    async with _client() as client:
        resp = await client.request(method, path)
    csp = _checked(resp)
    assert "default-src 'none'" in csp and "script-src" not in csp


async def test_the_ops_page_may_run_only_its_own_script_and_poll_its_figures() -> None:
    async with _client() as client:
        resp = await client.get("/ops")
    csp = _checked(resp)
    (script,) = re.findall(r"<script>(.*?)</script>", PAGE, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in csp and "unsafe-eval" not in csp
    assert "connect-src 'self'" in csp


async def test_with_a_metrics_port_the_public_port_does_not_answer_metrics() -> None:
    async with _client(metrics_port=9000, port=8000) as public:
        assert (await public.get("/metrics")).status_code == 404
        assert (await public.get("/healthz")).status_code == 200
    async with _client(metrics_port=9000, port=9000) as internal:
        assert (await internal.get("/v1/me")).status_code == 404  # only /metrics there
        assert (await internal.get("/healthz")).status_code == 200
