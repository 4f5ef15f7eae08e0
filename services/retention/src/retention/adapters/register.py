"""Loads the data register (RET-1) from its versioned TOML file."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from retention.domain.records import RecordsBasis
from retention.domain.register import DataRegister


def register_text(path: Path | None = None) -> str:
    """The register file's text: ``path``, or the one shipped with the service."""
    if path is not None:
        return path.read_text(encoding="utf-8")
    return (resources.files("retention") / "data" / "register.toml").read_text(encoding="utf-8")


def load_register(path: Path | None = None) -> DataRegister:
    """The validated register.

    Raises:
        InvalidRegister: the file does not say what RET-1 needs.
        tomllib.TOMLDecodeError: the file is not TOML.
    """
    return DataRegister.from_mapping(tomllib.loads(register_text(path)))


def load_records_basis(path: Path | None = None) -> tuple[DataRegister, RecordsBasis]:
    """The validated register and its tables for the records of processing (AUD-3).

    Raises:
        InvalidRegister: the file does not say what RET-1 or the records need.
    """
    raw = tomllib.loads(register_text(path))
    register = DataRegister.from_mapping(raw)
    return register, RecordsBasis.from_mapping(raw, register)
