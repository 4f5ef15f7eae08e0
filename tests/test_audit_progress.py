"""The audit command's reporting (AUD-1): a rich bar on a terminal, plain lines otherwise,
JSON lines with ``--json``, and the throughput at the end of every command."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from stack import Infra

from retention.audit_progress import Reporter, pick_mode


@pytest.mark.unit
def test_aud1_json_mode_writes_progress_and_throughput_as_json_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = Reporter("json")
    report.say("reading 5 topic(s)")
    report.count("reading", 10, 100)  # no bar for machines
    report.finish("replay", 1234)
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0] == {"event": "progress", "message": "reading 5 topic(s)"}
    assert lines[-1]["event"] == "done" and lines[-1]["events"] == 1234
    assert lines[-1]["command"] == "replay" and lines[-1]["events_per_second"] > 0


@pytest.mark.unit
def test_aud1_plain_mode_ends_with_a_throughput_line(capsys: pytest.CaptureFixture[str]) -> None:
    report = Reporter("plain")
    report.count("reading", 10, None)
    report.finish("verify", 50)
    err = capsys.readouterr().err
    assert err.startswith("marketplace-audit: verify: 50 event(s) in ")
    assert "events/s)" in err
    assert pick_mode(json_lines=True) == "json"
    assert pick_mode(json_lines=False) == "plain"  # pytest's stderr is not a terminal


@pytest.mark.unit
def test_aud1_rich_mode_draws_a_bar_then_the_throughput(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = Reporter("rich")
    report.count("reading the Kafka log", 500, 1000)
    report.say("a warning")
    report.finish("replay", 1000)
    err = capsys.readouterr().err
    assert "a warning" in err and "replay: 1,000 event(s)" in err


@pytest.mark.integration
def test_aud1_verify_with_json_reports_for_machines(infra: Infra) -> None:
    got = subprocess.run(
        [sys.executable, "-m", "retention.audit", "--json", "--source", "stores", "verify"],
        capture_output=True, timeout=180, env={**os.environ, **infra.env}, check=False)
    assert got.returncode in (0, 1), got.stderr.decode()
    assert "events" in orjson.loads(got.stdout)
    lines = [orjson.loads(line) for line in got.stderr.splitlines()]
    assert lines and all(line["event"] in ("progress", "done") for line in lines)
    assert lines[-1]["event"] == "done" and lines[-1]["command"] == "verify"
