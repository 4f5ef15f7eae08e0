"""Operations: readiness of the whole platform, merged metrics, the dashboard page (OPS-1)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.deps import Upstreams
from kernel.metrics import REGISTRY


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


def _sum(families: dict[str, Metric], name: str, **labels: str) -> float:
    fam = families.get(name)
    if fam is None:
        return 0.0
    return sum(
        s.value for s in fam.samples
        if s.name in (name, f"{name}_total")
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def dashboard(readiness: dict[str, Any], metrics_text: str) -> str:
    """The operations dashboard: readiness, event rates, lag and backlog per service."""
    families = {f.name: f for f in text_string_to_metric_families(metrics_text)}
    rows = []
    for name, state in readiness.items():
        ok = state.get("ready")
        rows.append(
            "<tr><td>{}</td><td class='{}'>{}</td><td>{:.0f}</td><td>{:.0f}</td>"
            "<td>{:.0f}</td><td>{:.0f}</td><td>{:.0f}</td></tr>".format(
                html.escape(name), "ok" if ok else "bad", "ready" if ok else "not ready",
                _sum(families, "events_appended", service=name),
                _sum(families, "events_published", service=name),
                _sum(families, "outbox_backlog", service=name),
                _sum(families, "events_consumed", service=name),
                _sum(families, "consumer_lag", service=name)
                + 0 * _sum(families, "dead_letters", service=name),
            )
        )
    dead = _sum(families, "dead_letters")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marketplace operations</title>
<meta http-equiv="refresh" content="5">
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .7rem;text-align:right}}td:first-child{{text-align:left}}
.ok{{color:#060}}.bad{{color:#b00;font-weight:bold}}</style></head>
<body><h1>Marketplace operations</h1>
<p>Refreshes every 5 s. Dead-lettered messages: {dead:.0f}.
Raw figures: <a href="/metrics">/metrics</a>; readiness: <a href="/readyz">/readyz</a>.</p>
<table><tr><th>service</th><th>state</th><th>events appended</th><th>published</th>
<th>outbox backlog</th><th>events consumed</th><th>consumer lag</th></tr>
{''.join(rows)}</table></body></html>"""
