"""``marketplace-staff grant|revoke|list``: staff roles from the operator's shell (SEC-2).

The way to appoint the first DPO, who then grants roles through the API; later the way
to mend roles when no DPO can log in. Each grant or revocation is the very
``StaffRoleGranted``/``StaffRoleRevoked`` event the API records (``granted_by`` empty: the
command line), written to the accounts outbox, which the running service's relay publishes.

Settings come from the ``MARKET_*`` environment; root secrets not set there are read from
the embedded stack's ``<data dir>/secrets.env`` (``--data-dir``, default
``$MARKET_DATA_DIR`` or ``.stack``), as ``make audit`` reads them, so the command works
from the project's root beside a running ``make run``. Every refusal is one line on
standard error and exit status 1 (2 for a bad command line).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from pydantic import ValidationError

from accounts import bootstrap
from accounts.adapters.staff_repository import StaffRepository
from accounts.domain.errors import AccountsError
from accounts.domain.staff import Role
from accounts.service_layer.staff import RevokeRole, grant_role_by_email, revoke_role
from accounts.settings import AccountsSettings
from kernel.logs import drop_personal_data
from kernel.settings import SecretsSettings

ROLES = [r.value for r in Role]


class CommandError(Exception):
    """A refusal, told in one line."""


def load_stack_secrets(data_dir: Path) -> bool:
    """Put the ``MARKET_SECRETS_*`` of ``<data_dir>/secrets.env`` into the environment,
    never over a value already set (and name the file, so that the key store follows a
    master-key rotation); returns whether the file was read."""
    path = data_dir / "secrets.env"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("MARKET_SECRETS_"):
            os.environ.setdefault(name, value.strip())
    os.environ.setdefault("MARKET_SECRETS_FILE", str(path.absolute()))
    return True


def _settings(data_dir: Path) -> AccountsSettings:
    load_stack_secrets(data_dir)
    try:
        return AccountsSettings()
    except ValidationError as exc:
        names = ", ".join(sorted({_variable(e["loc"]) for e in exc.errors()}))
        raise CommandError(
            f"no usable settings ({names} missing or invalid): set the MARKET_SECRETS_* "
            f"variables, or run from the project root beside `make run` (reads "
            f"{data_dir / 'secrets.env'})") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a settings error's location."""
    last = str(loc[-1])
    if last in SecretsSettings.model_fields:
        return f"MARKET_SECRETS_{last.upper()}"
    return ".".join(str(p) for p in loc)


async def _account_id(email: str, settings: AccountsSettings) -> str:
    async with bootstrap.standalone(settings) as ctx, ctx.reading() as repo:
        found = await StaffRepository(repo.conn, ctx.store, ctx.keys).account_id_by_email_index(
            ctx.index.email(email))
    if found is None:
        raise CommandError("no active account with that e-mail address")
    return found


async def grant(email: str, role: Role, settings: AccountsSettings) -> str:
    """Grant ``role`` to the account of ``email``; the line to print."""
    async with bootstrap.standalone(settings) as ctx:
        account_id = await grant_role_by_email(email, role, ctx)
    return f"granted {role.value} to account {account_id}"


async def revoke(email: str, role: Role, settings: AccountsSettings) -> str:
    """Revoke ``role`` from the account of ``email``; the line to print."""
    account_id = await _account_id(email, settings)
    async with bootstrap.standalone(settings) as ctx:
        await revoke_role(RevokeRole(account_id, role, None), ctx)
    return f"revoked {role.value} from account {account_id}"


async def listing(settings: AccountsSettings) -> str:
    """Every role held, one line each: account id, role, granted by, granted at."""
    async with bootstrap.standalone(settings) as ctx, ctx.reading() as repo:
        grants: list[dict[str, Any]] = await StaffRepository(
            repo.conn, ctx.store, ctx.keys).grants()
    if not grants:
        return "no staff roles granted yet"
    return "\n".join(f"{g['account_id']}\t{g['role']}\t{g['granted_by'] or 'command line'}"
                     f"\t{g['granted_at']}" for g in grants)


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown role {text!r}: one of {', '.join(ROLES)}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not the usage block
        self.exit(2, f"{self.prog}: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = _Parser(prog="marketplace-staff", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("MARKET_DATA_DIR", ".stack"),
                   help="the embedded stack's data directory, for its secrets.env")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, text in (("grant", "grant a staff role"), ("revoke", "revoke a staff role")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--email", required=True, help="the e-mail the account logs in with")
        cmd.add_argument("--role", required=True, type=_role, help=", ".join(ROLES))
    sub.add_parser("list", help="every role held: account id, role, granted by, granted at")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``marketplace-staff``; returns (and exits with) the exit code."""
    args = parser().parse_args(argv)
    # stdout carries the answer only; the handlers' info lines would come before it
    structlog.configure(
        processors=[drop_personal_data, structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        settings = _settings(Path(args.data_dir))
        if args.command == "list":
            line = asyncio.run(listing(settings))
        elif args.command == "grant":
            line = asyncio.run(grant(args.email, args.role, settings))
        else:
            line = asyncio.run(revoke(args.email, args.role, settings))
    except (CommandError, AccountsError) as exc:
        code, text = 1, getattr(exc, "message", str(exc))
    except asyncpg.PostgresError as exc:  # its message names no value, its detail might
        code, text = 1, f"PostgreSQL refused: {str(exc).splitlines()[0]} ({exc.sqlstate})"
    except (OSError, asyncpg.InterfaceError) as exc:
        code, text = 1, (f"PostgreSQL is unreachable ({type(exc).__name__}); "
                         "is the stack running (`make run`)?")
    else:
        print(line)
        return _exit(0, argv)
    print(f"marketplace-staff {args.command}: {text}", file=sys.stderr)
    return _exit(code, argv)


def _exit(code: int, argv: Sequence[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
