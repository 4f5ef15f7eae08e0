"""Each client logs in as its component's own principal when deploy/ sets SASL (issue 26)."""

from __future__ import annotations

import ssl

import pytest

from kernel.settings import KafkaSettings, kafka_client_options

pytestmark = pytest.mark.unit


def test_the_embedded_stack_needs_no_login() -> None:
    assert KafkaSettings(security_protocol="PLAINTEXT").client_options() == {}


def test_sasl_gives_every_client_the_components_scram_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKET_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MARKET_KAFKA_USERNAME", "accounts")
    monkeypatch.setenv("MARKET_KAFKA_PASSWORD", "s3cret")
    assert kafka_client_options() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "accounts", "sasl_plain_password": "s3cret",
    }


def test_sasl_ssl_checks_the_brokers_certificates() -> None:
    options = KafkaSettings(security_protocol="SASL_SSL", username="gateway").client_options()
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
