"""Settings shared by every service: PostgreSQL, Kafka, secrets, telemetry.

Platform-wide blocks read the ``MARKET_*`` environment; each service adds its own
class with its own prefix (for example ``ACCOUNTS_HTTP_PORT``).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PostgresSettings(BaseSettings):
    """Where the service's PostgreSQL lives."""

    model_config = SettingsConfigDict(env_prefix="MARKET_PG_")

    host: str = Field("127.0.0.1", description="PostgreSQL host.")
    port: int = Field(5433, description="PostgreSQL port.")
    user: str = Field("postgres", description="PostgreSQL role (trust auth on loopback).")
    password: SecretStr = Field(SecretStr(""), description="Password, if the server asks.")
    database: str = Field("marketplace", description="Database holding one schema per service.")
    keystore_database: str = Field(
        "keystore", description="Database of its own holding the wrapped per-subject keys."
    )
    pool_min: int = Field(1, description="Connections opened at start.")
    pool_max: int = Field(10, description="Most connections a service keeps.")
    command_timeout: float = Field(5.0, description="Seconds before a statement is abandoned.")

    def dsn(self, database: str | None = None) -> str:
        """A libpq URL for ``database`` (default: the platform database)."""
        pw = self.password.get_secret_value()
        auth = f"{self.user}:{pw}" if pw else self.user
        return f"postgresql://{auth}@{self.host}:{self.port}/{database or self.database}"


class KafkaSettings(BaseSettings):
    """Where the Kafka-API broker lives and how the clients talk to it."""

    model_config = SettingsConfigDict(env_prefix="MARKET_KAFKA_")

    bootstrap: str = Field("127.0.0.1:9092", description="Bootstrap servers, comma-separated.")
    session_timeout_ms: int = Field(6000, description="Consumer group session timeout.")
    heartbeat_interval_ms: int = Field(1000, description="Consumer heartbeat interval.")
    linger_ms: int = Field(5, description="Producer batching delay.")
    fetch_max_wait_ms: int = Field(
        100, description="Longest a consumer's fetch waits at the broker for new records."
    )
    relay_batch: int = Field(2000, description="Most outbox rows the relay publishes at once.")
    consumer_batch: int = Field(2000, description="Most records a consumer handles at once.")
    group_prefix: str = Field(
        "", description="Prefixed to every consumer group's name: in-process test hosts use "
        "groups of their own, never the running platform's (whose members would lose "
        "partitions to them).")
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT on the embedded stack (loopback); SASL_SSL in "
        "deploy/, where each service logs in as its own principal and the broker's ACLs let "
        "it write only its own topics.")
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*.")
    username: str = Field("", description="This service's SCRAM principal (e.g. `accounts`).")
    password: SecretStr = Field(SecretStr(""), description="This service's SCRAM password.")
    ssl_cafile: Path | None = Field(
        None, description="CA bundle the brokers' certificates are checked against (SASL_SSL).")

    def client_options(self) -> dict[str, Any]:
        """The security options of an aiokafka client (none on PLAINTEXT)."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password.get_secret_value(),
        }
        if self.security_protocol == "SASL_SSL":
            options["ssl_context"] = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        return options


def kafka_client_options() -> dict[str, Any]:
    """This process's Kafka security options, from ``MARKET_KAFKA_*`` : for every
    client the kernel, services and tools make, so that each logs in as its principal."""
    return KafkaSettings().client_options()


def _decode_key(value: SecretStr) -> SecretStr:
    raw = base64.b64decode(value.get_secret_value(), validate=True)
    if len(raw) != 32:
        raise ValueError("must be 32 bytes, base64-encoded")
    return value


class IndexKeySettings(BaseSettings):
    """The blind-index key alone (what sealing stream heads needs, and nothing more)."""

    model_config = SettingsConfigDict(env_prefix="MARKET_SECRETS_")

    index_key: SecretStr = Field(
        description="HMAC key for blind indexes and the erased register (base64, 32 bytes)."
    )

    _check_index = field_validator("index_key")(_decode_key)

    def index_key_bytes(self) -> bytes:
        """The blind-index key as raw bytes."""
        return base64.b64decode(self.index_key.get_secret_value())


PROOF_LABEL = b"marketplace/retention/erasure-proof/ed25519/v1"


def derive_proof_seed(master_key: bytes) -> bytes:
    """The erasure-proof signing key's seed, derived from a master key (HKDF, own label)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PROOF_LABEL).derive(
        master_key)


def parse_master_keys(text: str) -> dict[int, bytes]:
    """``"1:<base64>,2:<base64>"`` as ``{1: key, 2: key}``; raises ``ValueError`` when bad."""
    keys: dict[int, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        version, sep, value = item.partition(":")
        if not sep or not version.isdigit() or int(version) < 1 or int(version) in keys:
            raise ValueError("expected <version>:<base64 key>, versions distinct and >= 1")
        raw = base64.b64decode(value, validate=True)
        if len(raw) != 32:
            raise ValueError("every master key must be 32 bytes, base64-encoded")
        keys[int(version)] = raw
    return keys


def format_master_keys(keys: dict[int, bytes]) -> str:
    """The inverse of :func:`parse_master_keys`, versions in order."""
    return ",".join(f"{v}:{base64.b64encode(k).decode()}" for v, k in sorted(keys.items()))


class SecretsSettings(BaseSettings):
    """Root secrets. On the embedded stack ``make run`` generates and keeps them."""

    model_config = SettingsConfigDict(env_prefix="MARKET_SECRETS_")

    master_key: SecretStr = Field(
        description="Key-encryption key wrapping every per-subject data key (base64, 32 bytes): "
        "the current version, which new keys are wrapped under once the key store says so."
    )
    master_key_version: int = Field(
        1, ge=1, description="Version id of ``master_key``; the key store records, per wrapped "
        "key, the version wrapping it.")
    previous_master_keys: SecretStr = Field(
        SecretStr(""), description="Master keys of earlier versions still wrapping some keys "
        "while a rotation runs, ``<version>:<base64>`` comma-separated; empty otherwise.")
    secrets_file: Path | None = Field(
        None, validation_alias="MARKET_SECRETS_FILE",
        description="The secrets file these came from (the embedded stack's secrets.env): "
        "read again when the key store meets a master-key version unknown here, so that a "
        "running service follows an online rotation.")
    index_key: SecretStr = Field(
        description="HMAC key for blind indexes and the erased register (base64, 32 bytes)."
    )
    proof_seed: SecretStr = Field(
        SecretStr(""), description="Seed of the erasure-proof signing key (base64, 32 bytes); "
        "empty: derived from the master key. A master-key rotation fixes it first, so the "
        "proofs issued before still verify under the same public key.")
    key_cache_seconds: float = Field(30.0, description="How long an unwrapped data key is cached.")
    erasure_journal: Path | None = Field(
        None, validation_alias="MARKET_ERASURE_JOURNAL",
        description="The erasure journal kept beside the backups (kernel.journal); "
        "every destroyed subject key is recorded there first.",
    )

    _check_master = field_validator("master_key")(_decode_key)
    _check_proof = field_validator("proof_seed")(
        lambda v: v if not v.get_secret_value() else _decode_key(v))
    _check_index = field_validator("index_key")(_decode_key)

    @field_validator("previous_master_keys")
    @classmethod
    def _check_previous(cls, value: SecretStr) -> SecretStr:
        parse_master_keys(value.get_secret_value())
        return value

    def master_key_bytes(self) -> bytes:
        """The current master key as raw bytes."""
        return base64.b64decode(self.master_key.get_secret_value())

    def master_keys(self) -> dict[int, bytes]:
        """Every master key known, by version id (the current one included)."""
        keys = parse_master_keys(self.previous_master_keys.get_secret_value())
        if self.master_key_version in keys:
            raise ValueError(f"master key version {self.master_key_version} given twice")
        return {**keys, self.master_key_version: self.master_key_bytes()}

    def proof_seed_bytes(self) -> bytes:
        """The erasure-proof signing key's seed (RET-5)."""
        given = self.proof_seed.get_secret_value()
        if given:
            return base64.b64decode(given)
        return derive_proof_seed(self.master_key_bytes())

    def index_key_bytes(self) -> bytes:
        """The blind-index key as raw bytes."""
        return base64.b64decode(self.index_key.get_secret_value())


class TelemetrySettings(BaseSettings):
    """Logs and traces."""

    model_config = SettingsConfigDict(env_prefix="MARKET_")

    log_level: str = Field("INFO", description="Lowest level logged.")
    log_json: bool | None = Field(None, description="JSON lines (default: unless a terminal).")
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint; traces are exported only when set."
    )
