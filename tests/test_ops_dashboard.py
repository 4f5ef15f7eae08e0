"""The operations dashboard (OPS-1): its figures folded from the log, and the live page
driven in a real headless Chromium after traffic."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from members import sign_up, step_up
from stack import Platform

from gateway.opsfeed import LogFigures

SCREENSHOT = Path(os.environ.get("OPS_SCREENSHOT", "build/ops-dashboard.png"))
"""Where the e2e test leaves its screenshot of the dashboard."""


def _env(event_type: str, payload: dict[str, Any], at: datetime) -> bytes:
    return orjson.dumps({"event_type": event_type, "payload": payload,
                         "occurred_at": at.isoformat()})


@pytest.mark.unit
def test_ops_1_queue_deadlines_actions_and_rates_are_folded_from_the_log() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    ms = int(now.timestamp() * 1000)
    f = LogFigures()
    for rid, due, status in (("r-late", now - timedelta(days=1), None),
                             ("r-soon", now + timedelta(days=3), "in_progress"),
                             ("r-done", now - timedelta(days=9), "completed")):
        f.fold("retention.events.v1", ms - 500, _env("retention.PrivacyRequestReceived", {
            "request_id": rid, "subject_id": "subject-1", "type": "erasure",
            "channel": "app", "identity_verified": True, "due_at": due.isoformat()}, now))
        if status:
            f.fold("retention.events.v1", ms - 400, _env(
                "retention.PrivacyRequestStatusChanged",
                {"request_id": rid, "subject_id": "subject-1", "status": status}, now))
    f.fold("retention.events.v1", ms - 300, _env("retention.SubjectKeyShredded",
                                                 {"request_id": "r-done"}, now))
    f.fold("messaging.events.v1", ms - 200, _env("messaging.MessageScanned",
                                                 {"outcome": "quarantined"}, now))
    f.fold("consent.events.v1", ms - 100, _env("consent.ConsentDecisionRecorded",
                                               {"action": "sealed"}, now))
    f.fold("accounts.dead-letter.v1", ms - 100, b"not json")

    snap = f.snapshot(now)

    queue = snap["privacy_requests"]
    assert (queue["open"], queue["overdue"], queue["closed"]) == (2, 1, 1)
    assert [r["request_id"] for r in queue["queue"]] == ["r-late", "r-soon"]
    assert queue["queue"][0]["overdue"] and not queue["queue"][1]["overdue"]
    assert snap["retention_actions"] == {"PrivacyRequestStatusChanged": 2,
                                         "SubjectKeyShredded": 1}
    assert snap["scanner_verdicts"] == {"delivered": 0, "quarantined": 1, "blocked": 0}
    assert snap["dead_letters"] == {"accounts": 1}
    assert snap["consent_decisions_logged"] == 1
    assert snap["topics"]["retention.events.v1"]["total"] == 6
    assert snap["topics"]["retention.events.v1"]["rate"] == pytest.approx(0.6)
    assert "subject-1" not in orjson.dumps(snap).decode()  # SEC-4: no subject ids


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _traffic(client: httpx.Client) -> None:
    for i in range(3):
        m = sign_up(client, f"ops{i}")
        assert client.put("/v1/me/consents/marketing_email", json={"granted": True},
                          headers=m.auth).status_code == 200
        if i == 0:
            assert client.put("/v1/me/consents/marketing_email", json={"granted": False},
                              headers=m.auth).status_code == 200
            step_up(client, m)
            resp = client.post("/v1/privacy-requests", json={"type": "access"}, headers=m.auth)
            assert resp.status_code == 202, resp.text


@pytest.mark.e2e
def test_ops_1_data_endpoint_reports_traffic_without_personal_data(
    client: httpx.Client,
) -> None:
    _traffic(client)
    def shown(data: dict[str, Any]) -> bool:
        queue = data["privacy_requests"]
        return bool(data["broker_connected"]
                    and data["topics"].get("accounts.events.v1", {}).get("total")
                    and queue["open"] + queue["closed"] >= 1
                    and data["consent"]["granted"] >= 3 and data["consent"]["withdrawn"] >= 1
                    and data["consent"]["logged"] >= 4)

    deadline = time.monotonic() + 30
    data = client.get("/ops/data.json").json()
    while not shown(data):
        assert time.monotonic() < deadline, data
        time.sleep(1)
        data = client.get("/ops/data.json").json()
    assert set(data["services"]) == {"accounts", "consent", "listings", "messaging", "retention"}
    assert all(isinstance(s["consumer_lag"], float) for s in data["services"].values())
    assert "@example.nl" not in orjson.dumps(data).decode()


@pytest.mark.e2e
def test_ops_1_dashboard_shows_live_figures_in_headless_chromium(
    client: httpx.Client, platform: Platform,
) -> None:
    chromium = _chromium()
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail("chromium and chromium-driver are missing: `make test` installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _traffic(client)
    profile = tempfile.mkdtemp(prefix="ops-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1500", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))
    try:
        driver.get(f"{platform.gateway_url}/ops")

        def figure(element_id: str) -> float:
            text = driver.find_element(By.ID, element_id).text.replace(",", "")
            return float(text or 0)

        def live(_: object) -> bool:
            polls = int(driver.find_element(By.TAG_NAME, "body").get_attribute(
                "data-polls") or 0)
            return (polls >= 2 and figure("c-granted") > 0 and figure("c-logged") > 0
                    and figure("pr-open") + figure("pr-closed") > 0
                    and len(driver.find_elements(By.CSS_SELECTOR, "#rates polyline")) > 0)

        WebDriverWait(driver, 45, poll_frequency=0.5).until(live)
        topics = driver.find_element(By.ID, "topics").text
        assert "accounts.events.v1" in topics
        rows = driver.find_elements(By.CSS_SELECTOR, "#services tbody tr")
        assert len(rows) == 5 and all("not ready" not in r.text for r in rows)
        assert driver.find_element(By.ID, "error").text == ""
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.unit
async def test_ops_1_figures_need_a_token_off_the_embedded_default() -> None:
    from starlette.requests import Request

    from gateway.ops import require_ops
    from kernel.http import ApiError

    request = Request({"type": "http", "method": "GET", "path": "/ops/data.json",
                       "headers": [], "query_string": b""})
    await require_ops(request, open_=True)  # the embedded default: open
    with pytest.raises(ApiError) as err:
        await require_ops(request, open_=False)
    assert (err.value.status, err.value.code) == (401, "unauthenticated")


class _Resp:
    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code, self._body = status_code, body

    def json(self) -> dict[str, Any]:
        return self._body


class _Accounts:
    """The accounts service as the gateway sees it: a session, and its staff roles."""

    def __init__(self, roles: list[str]) -> None:
        self.roles = roles

    async def call(self, service: str, method: str, path: str, **_: Any) -> _Resp:
        if path == "/internal/sessions/introspect":
            return _Resp(200, {"account_id": "a1", "session_id": "s1",
                               "expires_at": "2099-01-01T00:00:00+00:00"})
        assert path == "/internal/staff/me"
        return _Resp(200, {"roles": self.roles, "permissions": []})


@pytest.mark.unit
@pytest.mark.parametrize(("roles", "allowed"), [(["ops"], True), (["support"], False),
                                                ([], False)])
async def test_ops_1_off_the_embedded_default_only_the_ops_role_reads_the_figures(
    roles: list[str], allowed: bool,
) -> None:
    from types import SimpleNamespace

    from starlette.requests import Request

    from gateway.ops import require_ops
    from kernel.http import ApiError

    app = SimpleNamespace(state=SimpleNamespace(upstreams=_Accounts(roles)))
    request = Request({"type": "http", "method": "GET", "path": "/ops/data.json",
                       "headers": [(b"authorization", b"Bearer tok")], "query_string": b"",
                       "app": app})
    if allowed:
        await require_ops(request, open_=False)
    else:
        with pytest.raises(ApiError) as err:
            await require_ops(request, open_=False)
        assert (err.value.status, err.value.code) == (403, "forbidden")


@pytest.mark.unit
def test_ops_1_records_are_counted_by_their_header_without_parsing_the_payload() -> None:
    f = LogFigures()
    f.fold("consent.events.v1", 1000, b"not even json", "consent.ConsentDecisionRecorded")
    f.fold("retention.events.v1", 1000, b"not even json", "retention.SubjectKeyShredded")
    f.fold("accounts.events.v1", 1000, b"not even json", "accounts.AccountRegistered")
    snap = f.snapshot()
    assert snap["consent_decisions_logged"] == 1
    assert snap["retention_actions"] == {"SubjectKeyShredded": 1}
