"""Finds (or installs) the PostgreSQL server binaries and the user that must run them."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import structlog

from devstack.errors import StackError

log = structlog.get_logger("devstack.postgres")

PG_USER = "postgres"
"""The unprivileged system user the server runs as when the runner is root."""


@dataclass(frozen=True)
class PgBinaries:
    """Where the server binaries live and which major version they are."""

    bindir: Path
    major: int

    def tool(self, name: str) -> str:
        """The absolute path of one binary (``initdb``, ``pg_ctl``, ``postgres``...)."""
        return str(self.bindir / name)


def is_root() -> bool:
    """Whether the runner is root (PostgreSQL then runs as :data:`PG_USER`)."""
    return os.geteuid() == 0


def _candidates() -> list[PgBinaries]:
    found: list[PgBinaries] = []
    override = os.environ.get("DEVSTACK_PG_BINDIR")
    if override:
        bindir = Path(override)
        if not (bindir / "initdb").exists():
            raise StackError(f"DEVSTACK_PG_BINDIR={override} has no initdb")
        return [PgBinaries(bindir, _major_of(bindir))]
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bindir = Path(initdb).parent
        version = bindir.parent.name
        if version.isdigit():
            found.append(PgBinaries(bindir, int(version)))
    on_path = shutil.which("initdb")
    if on_path and not found:
        bindir = Path(on_path).resolve().parent
        found.append(PgBinaries(bindir, _major_of(bindir)))
    return sorted(found, key=lambda b: b.major, reverse=True)


def _major_of(bindir: Path) -> int:
    out = subprocess.run(  # noqa: S603 - argv built here
        [str(bindir / "initdb"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)", out)
    if match is None:
        raise StackError(f"cannot tell the PostgreSQL version of {bindir}: {out!r}")
    return int(match.group(1))


def find_binaries(install: bool = True) -> PgBinaries:
    """The newest PostgreSQL server binaries on this machine.

    Looks in ``$DEVSTACK_PG_BINDIR``, then ``/usr/lib/postgresql/*/bin``, then ``PATH``.
    When none are found and the runner is root on a Debian-like system, installs the
    ``postgresql`` package with apt-get and looks again.

    Args:
        install: Whether installing with apt-get is allowed.

    Raises:
        StackError: No binaries and no way to install them.
    """
    found = _candidates()
    if found:
        return found[0]
    if install and is_root() and shutil.which("apt-get"):
        log.info("postgres.installing", package="postgresql")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
        ):
            done = subprocess.run(  # noqa: S603 - argv built here
                argv, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise StackError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
        found = _candidates()
        if found:
            return found[0]
    raise StackError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH). "
        "Install them (Debian/Ubuntu: `sudo apt-get install -y postgresql`) "
        "or point DEVSTACK_PG_BINDIR at the directory holding initdb and pg_ctl."
    )


def ensure_pg_user() -> pwd.struct_passwd:
    """The :data:`PG_USER` account, created as a system user if missing (root only)."""
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        pass
    log.info("postgres.creating_user", user=PG_USER)
    done = subprocess.run(  # noqa: S603 - argv built here
        [  # noqa: S607 - found on PATH like any admin tool
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/var/lib/postgresql",
            "--shell",
            "/usr/sbin/nologin",
            PG_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"useradd {PG_USER} failed: {done.stderr.strip()}")
    return pwd.getpwnam(PG_USER)


def as_pg_user(argv: list[str]) -> list[str]:
    """``argv`` run as :data:`PG_USER` when the runner is root, unchanged otherwise."""
    if not is_root():
        return argv
    return ["runuser", "-u", PG_USER, "--", *argv]


def pg_user_can_enter(path: Path) -> bool:
    """Whether :data:`PG_USER` can reach ``path`` (every parent must be searchable)."""
    if not is_root():
        return True
    done = subprocess.run(as_pg_user(["test", "-x", str(path)]), check=False)  # noqa: S603 - argv built here
    return done.returncode == 0
