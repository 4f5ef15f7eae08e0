"""The gateway's operational routes and its answers to bad input (API.md, OPS-1)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_health_and_readiness_answer_200_when_everything_is_up(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["services"]) == {"accounts", "consent", "listings", "messaging",
                                             "retention"}


def test_openapi_describes_the_fixed_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for route in ("/v1/accounts", "/v1/sessions", "/v1/sessions/current",
                  "/v1/sessions/current/reauth", "/v1/me", "/v1/terms",
                  "/v1/privacy-requests", "/v1/privacy-requests/{request_id}",
                  "/healthz", "/readyz", "/metrics", "/ops", "/asyncapi.json"):
        assert any(p == route or p.split("{")[0] == route.split("{")[0] for p in paths), route


def test_asyncapi_describes_every_event_with_its_schema(client: httpx.Client) -> None:
    doc = client.get("/asyncapi.json").json()
    assert doc["asyncapi"].startswith("3.")
    text = str(doc)
    for name in ("AccountRegistered", "SubjectKeyShredded", "ErasureReceiptIssued"):
        assert name in text


def test_metrics_are_prometheus_text_from_every_service(client: httpx.Client) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert 'service="accounts"' in resp.text and "events_published" in resp.text


def test_ops_dashboard_is_a_page(client: httpx.Client) -> None:
    resp = client.get("/ops")
    assert resp.status_code == 200 and "/ops/data.json" in resp.text


def test_malformed_json_is_a_clear_422(client: httpx.Client) -> None:
    resp = client.post("/v1/accounts", content=b'{"email": ',
                       headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert "Traceback" not in resp.text


@pytest.mark.parametrize("body", [{}, {"email": 5}, {"email": "x@y.nl", "password": []}])
def test_missing_fields_and_wrong_types_are_422(client: httpx.Client, body: dict) -> None:
    assert client.post("/v1/accounts", json=body).status_code == 422


def test_oversized_bodies_are_refused_with_413(client: httpx.Client) -> None:
    resp = client.post("/v1/accounts", content=b"{" + b" " * 2_000_000 + b"}",
                       headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


def test_unknown_routes_are_404_json(client: httpx.Client) -> None:
    resp = client.get("/v1/nothing-here")
    assert resp.status_code == 404
