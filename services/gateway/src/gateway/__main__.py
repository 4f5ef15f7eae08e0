"""Run the gateway: ``python -m gateway``."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings


def main() -> None:
    """Serve the public API until SIGINT/SIGTERM."""
    settings = GatewaySettings()
    # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1;
    # gateway.client_address alone decides whom to believe (GATEWAY_TRUSTED_PROXIES).
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_config=None, access_log=False, timeout_graceful_shutdown=10,
                proxy_headers=False)


if __name__ == "__main__":
    main()
