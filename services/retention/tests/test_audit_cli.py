"""The auditors' command from the project's root (AUD-1): clear one-line errors, never a
traceback; the embedded stack's root secrets are found without being exported."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.ports import free_port
from retention import audit
from retention.audit import load_stack_secrets, main

pytestmark = pytest.mark.unit

SECRETS = ("MARKET_SECRETS_MASTER_KEY", "MARKET_SECRETS_INDEX_KEY")


def test_replay_without_root_secrets_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert main(["--data-dir", str(tmp_path), "replay"]) == 2
    err = capsys.readouterr().err
    assert "no root secrets" in err and "MARKET_SECRETS_MASTER_KEY" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_stacks_secrets_file_is_read_without_overriding_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = base64.b64encode(b"m" * 32).decode()
    monkeypatch.delenv("MARKET_SECRETS_MASTER_KEY", raising=False)
    monkeypatch.setenv("MARKET_SECRETS_INDEX_KEY", "kept")
    (tmp_path / "secrets.env").write_text(
        f"# comment\nMARKET_SECRETS_MASTER_KEY={key}\nMARKET_SECRETS_INDEX_KEY=other\n"
        "PATH=/nowhere\n")
    assert load_stack_secrets(tmp_path)
    assert os.environ["MARKET_SECRETS_MASTER_KEY"] == key
    assert os.environ["MARKET_SECRETS_INDEX_KEY"] == "kept"
    assert os.environ["PATH"] != "/nowhere"
    assert not load_stack_secrets(tmp_path / "missing")


def test_an_unreachable_broker_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MARKET_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("MARKET_PG_PORT", str(free_port()))
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err or "unreachable" in err
    assert "Traceback" not in err
    key = base64.b64encode(b"m" * 32).decode()
    for name in SECRETS:
        monkeypatch.setenv(name, key)
    # As a user runs it (pytest would capture the client library's log lines): the Kafka
    # log is read first, and the broker's client adds no line of its own.
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(Path(sys.executable).parent / "marketplace-audit"), "replay"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "unreachable" in done.stderr and len(done.stderr.strip().splitlines()) == 1, (
        done.stderr)


@pytest.mark.unit
def test_options_are_taken_before_or_after_the_command() -> None:
    """``records --json`` as a user types it, and ``--json records`` as the README writes it;
    an option given before the command is not reset by the command's parser."""
    p = audit.parser()
    assert p.parse_args(["records", "--json"]).json is True
    assert p.parse_args(["--json", "records"]).json is True
    assert p.parse_args(["records"]).json is False
    args = p.parse_args(["--source", "stores", "replay", "--subject", "s"])
    assert (args.source, args.subject) == ("stores", "s")
    assert p.parse_args(["replay", "--source", "kafka"]).source == "kafka"
    assert p.parse_args(["--data-dir", "/x", "verify"]).data_dir == "/x"
