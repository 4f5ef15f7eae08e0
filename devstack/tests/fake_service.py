"""A stand-in service for the runner's tests: answers 200 on every GET until SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = os.environ.get("MARKET_PG_PORT", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    """Serve on ``<NAME>_HTTP_PORT``; exit at once with code 3 when ``FAKE_CRASH`` names us."""
    name = sys.argv[1]
    if os.environ.get("FAKE_CRASH") == name:
        print(f"{name}: crashing as asked", flush=True)
        sys.exit(3)
    server = ThreadingHTTPServer(
        ("127.0.0.1", int(os.environ[f"{name.upper()}_HTTP_PORT"])), _Handler
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f'{{"event": "fake.listening", "service": "{name}"}}', flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
