"""Test support: a gateway whose services run in-process (like FastStream's TestKafkaBroker)."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.deps import UpstreamResponse, Upstreams
from kernel.internal_auth import SIGNATURE_HEADER, CallSigner


class InProcessUpstreams(Upstreams):
    """Upstreams whose service clients talk to ASGI apps instead of sockets.

    Args:
        apps: The in-process app of each service, by service name.
        signer: Signs each call; by default with the key from the environment.
    """

    def __init__(self, apps: dict[str, Any], signer: CallSigner | None = None) -> None:
        super().__init__({name: f"http://{name}" for name in apps}, 10,
                         signer or CallSigner.from_env())
        self._clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                    base_url=f"http://{name}")
            for name, app in apps.items()
        }

    async def _request(
        self, service: str, method: str, path: str, body: bytes | None,
        params: dict[str, str] | None, headers: dict[str, str],
    ) -> UpstreamResponse:
        client = self._clients[service]
        request = client.build_request(method, path, content=body, params=params,
                                       headers=headers)
        request.headers[SIGNATURE_HEADER] = self.signer.sign(
            method, request.url.raw_path, body, headers, service=service)
        resp = await client.send(request)
        return UpstreamResponse(resp.status_code, resp.content, resp.headers)

    async def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()
