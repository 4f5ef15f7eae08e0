"""The client's address: forwarding headers believed only from trusted proxies (issue 26)."""

from __future__ import annotations

import base64

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.datastructures import Headers

from gateway.client_address import client_address, forwarded_client, parse_networks
from gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit

INGRESS = parse_networks("10.0.0.0/8, fd00::/8")


def xff(*values: str) -> Headers:
    return Headers(raw=[(b"x-forwarded-for", v.encode()) for v in values])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert forwarded_client("203.0.113.9", xff("198.51.100.1"), ()) == "203.0.113.9"
    assert forwarded_client("127.0.0.1", xff("198.51.100.1"), ()) == "127.0.0.1"


def test_an_untrusted_peer_cannot_name_an_address() -> None:
    assert forwarded_client("203.0.113.9", xff("198.51.100.1"), INGRESS) == "203.0.113.9"


def test_behind_the_ingress_the_rightmost_untrusted_hop_is_the_client() -> None:
    # The client wrote the first two hops itself; the ingress appended what it saw.
    spoofed = xff("1.1.1.1, 2.2.2.2", "198.51.100.7")
    assert forwarded_client("10.1.2.3", spoofed, INGRESS) == "198.51.100.7"
    chain = xff("1.1.1.1, 198.51.100.7, 10.9.9.9")  # through two proxies of ours
    assert forwarded_client("10.1.2.3", chain, INGRESS) == "198.51.100.7"
    assert forwarded_client("10.1.2.3", xff("198.51.100.7:4711"), INGRESS) == "198.51.100.7"
    assert forwarded_client("fd00::5", xff("[2001:db8::7]:443"), INGRESS) == "2001:db8::7"


def test_garbage_or_no_header_counts_at_the_proxy_never_at_a_chosen_address() -> None:
    assert forwarded_client("10.1.2.3", xff("1.1.1.1, not-an-ip"), INGRESS) == "10.1.2.3"
    assert forwarded_client("10.1.2.3", Headers(), INGRESS) == "10.1.2.3"
    only_ours = xff("10.8.8.8")
    assert forwarded_client("10.1.2.3", only_ours, INGRESS) == "10.8.8.8"


def test_only_the_header_the_proxy_writes_is_read() -> None:
    both = Headers(raw=[(b"forwarded", b'for="[2001:db8::1]";proto=https, for=198.51.100.8'),
                        (b"x-forwarded-for", b"1.1.1.1")])
    assert forwarded_client("10.1.2.3", both, INGRESS, "forwarded") == "198.51.100.8"
    assert forwarded_client("10.1.2.3", both, INGRESS) == "1.1.1.1"


async def test_the_route_helper_reads_the_apps_setting() -> None:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> str:
        return client_address(request)

    async def ask(trusted: str) -> str:
        app.state.trusted_proxies = parse_networks(trusted)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            answer = await c.get("/who", headers={"X-Forwarded-For": "198.51.100.3"})
            return str(answer.json())

    assert await ask("") == "127.0.0.1"
    assert await ask("127.0.0.1/32") == "198.51.100.3"


def test_a_mistyped_trusted_network_stops_the_gateway_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKET_SECRETS_INTERNAL_KEY", base64.b64encode(bytes(32)).decode())
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, ::1/128")
    assert len(parse_networks(GatewaySettings().trusted_proxies)) == 2
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, ingress")
    with pytest.raises(ValidationError):
        GatewaySettings()
