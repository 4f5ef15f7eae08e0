"""Operations: readiness of the whole platform, merged metrics, the dashboard (OPS-1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.deps import Upstreams, current_session
from gateway.opsfeed import OpsFeed
from kernel.http import ApiError
from kernel.metrics import REGISTRY

CONSENT_DECISIONS = Counter(
    "consent_decisions", "Consent decisions made through the API, by kind (no purpose, no id).",
    ["decision"], registry=REGISTRY,
)
PAGE = files("gateway").joinpath("static/ops.html").read_text(encoding="utf-8")
"""The dashboard page: no figures in it, it polls ``/ops/data.json``."""


async def service_readiness(ups: Upstreams) -> dict[str, Any]:
    """Each service's ``/readyz`` answer, fetched concurrently."""

    async def one(name: str) -> tuple[str, Any]:
        try:
            resp = await asyncio.wait_for(ups.call(name, "GET", "/readyz"), 2.0)
            body = resp.json()
            return name, {"ready": resp.status_code == 200, "parts": body.get("parts", {})}
        except Exception as exc:
            return name, {"ready": False, "error": type(exc).__name__}

    return dict(await asyncio.gather(*(one(n) for n in ups.urls)))


class _Merged:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


async def merged_metrics(ups: Upstreams) -> bytes:
    """The gateway's metrics and every service's, merged by family (Prometheus text)."""

    async def fetch(name: str) -> str:
        try:
            resp = await asyncio.wait_for(ups.call(name, "GET", "/metrics"), 2.0)
            return resp.text if resp.status_code == 200 else ""
        except Exception:
            return ""

    texts = [generate_latest(REGISTRY).decode()]
    texts += await asyncio.gather(*(fetch(n) for n in ups.urls))
    families: dict[str, Metric] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            have = families.get(fam.name)
            if have is None:
                families[fam.name] = fam
            else:
                have.samples.extend(fam.samples)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(families.values())))
    return generate_latest(registry)


def _by_service(families: dict[str, Metric], name: str) -> dict[str, float]:
    fam = families.get(name)
    out: dict[str, float] = {}
    if fam is None:
        return out
    for sample in fam.samples:
        if sample.name in (name, f"{name}_total") and "service" in sample.labels:
            svc = sample.labels["service"]
            out[svc] = out.get(svc, 0.0) + float(sample.value)
    return out


def _by_label(families: dict[str, Metric], name: str, label: str) -> dict[str, float]:
    fam = families.get(name)
    out: dict[str, float] = {}
    for sample in fam.samples if fam is not None else ():
        if sample.name in (name, f"{name}_total") and label in sample.labels:
            key = sample.labels[label]
            out[key] = out.get(key, 0.0) + float(sample.value)
    return out


def figures(readiness: dict[str, Any], metrics_text: str, feed: OpsFeed | None) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON: metrics of every service and the log's view."""
    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    lag = _by_service(families, "consumer_lag")
    services = {
        name: {
            "ready": bool(state.get("ready")),
            "consumer_lag": lag.get(name, 0.0),
            "outbox_backlog": _by_service(families, "outbox_backlog").get(name, 0.0),
            "events_published": _by_service(families, "events_published").get(name, 0.0),
            "events_consumed": _by_service(families, "events_consumed").get(name, 0.0),
            "dead_letters": _by_service(families, "dead_letters").get(name, 0.0),
        }
        for name, state in readiness.items()
    }
    log_view: dict[str, Any] = feed.figures.snapshot() if feed is not None else {}
    decisions = _by_label(families, "consent_decisions", "decision")
    return {
        "broker_connected": bool(feed and feed.connected),
        "services": services,
        "consent": {
            "granted": decisions.get("granted", 0.0),
            "withdrawn": decisions.get("withdrawn", 0.0),
            "logged": log_view.get("consent_decisions_logged", 0),
        },
        **{k: v for k, v in log_view.items() if k != "consent_decisions_logged"},
    }


async def require_ops(request: Request, open_: bool) -> None:
    """Nothing on the embedded default (``open_``); otherwise a session holding ``ops``."""
    if open_:
        return
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthenticated", "a valid bearer token is required",
                       {"WWW-Authenticate": "Bearer"})
    session = await current_session(request, HTTPAuthorizationCredentials(
        scheme="Bearer", credentials=token))
    ups: Upstreams = request.app.state.upstreams
    resp = await ups.call("accounts", "GET", "/internal/staff/me", headers=session.headers())
    roles = resp.json().get("roles", []) if resp.status_code == 200 else []
    if "ops" not in roles:
        raise ApiError(403, "forbidden", "the ops role is required")
