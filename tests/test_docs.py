"""The README and docs a new user reads stay true (issue 32): every file the README cites
exists, every `make` target it names is in the Makefile, and the settings reference lists
every field of every settings class."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from devstack import settings_doc

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCES = [ROOT / "kernel/src", ROOT / "contracts/src", ROOT / "devstack/src",
           *sorted((ROOT / "services").glob("*/src"))]
MADE_BY_THE_USER = {"secrets.env"}
"""Files the README tells a deployer to create (deploy/secrets.env), not shipped."""


def _cited_files() -> list[str]:
    """Backticked tokens of the README that name a file or folder of the repository."""
    cited = set()
    for token in re.findall(r"`([^`\s]+)`", README):
        token = token.split(":")[0].rstrip(".,")
        if token.startswith(("http", "/", ".stack", "~", "-")) \
                or any(c in token for c in "<>*…{}$=\\|"):
            continue
        if "/" in token or re.search(r"\.(md|py|toml|ya?ml|jsonl?|sh|txt|xml|sql)$", token):
            cited.add(token)
    return sorted(cited)


def _exists(token: str) -> bool:
    if Path(token).name in MADE_BY_THE_USER:
        return True
    if (ROOT / token).exists() or any((src / token).exists() for src in SOURCES):
        return True
    if "/" not in token:  # a file named by itself, e.g. a scanner list or a test file
        return any(p for p in ROOT.rglob(token) if ".venv" not in p.parts)
    return False


def test_every_file_the_readme_cites_exists() -> None:
    cited = _cited_files()
    assert "docs/api.md" in cited and "docs/settings.md" in cited  # the test reads the links
    assert [t for t in cited if not _exists(t)] == []


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"make ([a-z][a-z-]*)", README))
    assert named and named <= targets, sorted(named - targets)


def _settings_classes() -> set[type[BaseSettings]]:
    for src in SOURCES:
        for pkg in src.iterdir():
            if not (pkg / "__init__.py").exists():
                continue
            for info in pkgutil.walk_packages([str(pkg)], prefix=f"{pkg.name}."):
                if ".tests" in info.name or info.name.endswith("__main__"):
                    continue
                try:
                    importlib.import_module(info.name)
                except ImportError:  # optional engines (bench-only dependencies)
                    continue
    found: set[type[BaseSettings]] = set()
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    ours = {c for c in found if c.__module__.split(".")[0] in
            {"kernel", "contracts", "devstack", "accounts", "consent", "listings",
             "messaging", "retention", "gateway"}}
    # a base without a prefix of its own (ServiceSettings): each service lists its fields
    return {c for c in ours if c.model_config.get("env_prefix") or not c.__subclasses__()}


def test_the_settings_reference_lists_every_field_of_every_settings_class() -> None:
    committed = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    missing = {f"{cls.__name__}: {variable}" for cls in _settings_classes()
               for variable, _, _ in settings_doc.rows(cls) if f"`{variable}`" not in committed}
    assert missing == set(), "add the class to devstack.settings_doc and run `make docs`"


def test_the_committed_settings_reference_is_the_generated_one() -> None:
    committed = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    assert committed == settings_doc.render(), "run `make docs` and commit docs/settings.md"
