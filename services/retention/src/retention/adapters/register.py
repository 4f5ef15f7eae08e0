"""Loads the data register (RET-1) from its versioned TOML file; which of its categories the
contracts seal under keys of their own."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

import contracts
from contracts.envelope import Event
from contracts.personal import personal_fields
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


@cache
def scoped_categories() -> frozenset[str]:
    """Categories whose values the contracts seal under per-subject monthly keys, which end
    alone (every contracts module imported first, so that none is missed)."""
    for mod in pkgutil.iter_modules(contracts.__path__):
        importlib.import_module(f"contracts.{mod.name}")
    return frozenset(p.category.value for cls in Event.registry.values()
                     for p in personal_fields(cls).values() if p.expiring)
