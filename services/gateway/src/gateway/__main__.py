"""Run the gateway: ``python -m gateway``."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings


def main() -> None:
    """Serve the public API until SIGINT/SIGTERM (and /metrics on its own internal port,
    when one is set: ``GATEWAY_METRICS_PORT``)."""
    settings = GatewaySettings()
    config = uvicorn.Config(create_app(settings), host=settings.http_host,
                            port=settings.http_port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=10,
                            proxy_headers=False)
    ports = [settings.http_port]
    if settings.metrics_port is not None:
        ports.append(settings.metrics_port)
    sockets = []
    for port in ports:
        config.port = port
        sockets.append(config.bind_socket())
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
