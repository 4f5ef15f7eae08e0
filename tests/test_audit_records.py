"""AUD-3 (issue 16): ``make audit ARGS=records`` prints the records of processing (GDPR
art. 30) from the data register and the log, against the running platform."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest
from members import sign_up
from stack import Platform, eventually

from retention.audit_progress import render_records

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def _make_audit(platform: Platform, args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", "-s", "audit", f"ARGS={args}"],  # noqa: S607
        cwd=ROOT, capture_output=True, timeout=300, env={**os.environ, **platform.env},
        check=False)


def test_aud3_records_from_the_register_and_the_log_through_make_audit(
    platform: Platform, capsys: pytest.CaptureFixture[str],
) -> None:
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        sign_up(client, "records")

    def records() -> dict[str, object]:
        got = _make_audit(platform, "records")
        assert got.returncode == 0, got.stderr.decode()[-2000:]
        doc: dict[str, object] = orjson.loads(got.stdout)
        rows = {p["category"]: p for p in doc["processing"]}  # type: ignore[attr-defined]
        assert rows["contact"]["in_the_log"]["events"] >= 1, rows["contact"]
        return doc

    doc = eventually(records, timeout=60)
    assert doc["title"] == "Records of processing activities (GDPR article 30)"
    assert doc["controller"]["name"].startswith("Payper B.V.")  # type: ignore[index]
    log = doc["log"]
    assert log["source"] == "kafka" and log["events"] > 0  # type: ignore[index]
    rows = {p["category"]: p for p in doc["processing"]}  # type: ignore[attr-defined]
    contact = rows["contact"]
    assert "accounts" in contact["in_the_log"]["processed_by"]
    assert contact["legal_basis"] == "contract" and contact["retention"]["days"] > 0
    assert {r["kind"] for r in doc["recipients"]} >= {"employer", "law_enforcement"}  # type: ignore[attr-defined]
    recipients = {r["recipient"]: r for r in doc["recipients"]}  # type: ignore[attr-defined]
    assert recipients["call_tracking"]["countries"] == ["GB"]  # SHR-4 in the records
    assert recipients["call_tracking"]["transfer_basis"] == "adequacy"
    assert recipients["group_companies"]["per_purpose"]["fraud_prevention"] == [
        "identity", "security_logs"]  # SHR-2: what each purpose may receive
    with capsys.disabled():
        print(f"\nAUD-3 records: {len(rows)} categories, {log['events']} events read")  # type: ignore[index]
    render_records(doc)  # the terminal form of the same document
    out = capsys.readouterr().out
    assert "processing by data category" in out and "security measures" in out


def test_aud3_records_with_json_reports_progress_for_machines(platform: Platform) -> None:
    got = _make_audit(platform, "--json records")
    assert got.returncode == 0, got.stderr.decode()[-2000:]
    assert orjson.loads(got.stdout)["processing"]
    last = orjson.loads(got.stderr.splitlines()[-1])
    assert last["event"] == "done" and last["command"] == "records"
