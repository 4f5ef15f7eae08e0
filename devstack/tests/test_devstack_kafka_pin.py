"""One Kafka version: the embedded broker's pin (devstack/kafka/pom.xml) is what deploy/ runs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from devstack.broker import KAFKA_DIR

ROOT = Path(__file__).resolve().parents[2]
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pinned_version() -> str:
    pom = ET.parse(KAFKA_DIR / "pom.xml").getroot()  # noqa: S314 - the repository's own file
    version = pom.find("m:properties/m:kafka.version", _NS)
    assert version is not None and version.text
    return version.text


def test_the_pin_is_an_exact_release() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_version())


def test_deploy_runs_the_pinned_kafka() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    images = {svc["image"] for name, svc in compose["services"].items()
              if name.startswith("kafka")}
    assert images == {f"apache/kafka:{pinned_version()}"}
