"""``python -m accounts``: run the accounts service until SIGINT or SIGTERM.

``python -m accounts grant-role --email ... --role dpo`` grants a staff role without
HTTP: the way to appoint the first DPO (SEC-2), who then grants roles through the API.
"""

import argparse
import asyncio
import sys

from accounts import bootstrap


async def _grant_role(email: str, role: str) -> str:
    from accounts.domain.staff import Role
    from accounts.service_layer.staff import grant_role_by_email

    async with bootstrap.standalone() as ctx:
        return await grant_role_by_email(email, Role(role), ctx)


def main(argv: list[str] | None = None) -> None:
    """Serve, or run a command-line tool."""
    parser = argparse.ArgumentParser(prog="python -m accounts")
    commands = parser.add_subparsers(dest="command")
    grant = commands.add_parser("grant-role", help="grant a staff role (first DPO)")
    grant.add_argument("--email", required=True, help="e-mail address the account logs in with")
    grant.add_argument("--role", required=True,
                       choices=["support", "trust_and_safety", "dpo", "auditor", "ops"])
    args = parser.parse_args(argv)
    if args.command is None:
        bootstrap.build().serve()
        return
    from accounts.domain.errors import NotFound

    try:
        account_id = asyncio.run(_grant_role(args.email, args.role))
    except NotFound as exc:
        print(f"grant-role: {exc.message}", file=sys.stderr)
        sys.exit(1)
    print(f"granted {args.role} to account {account_id}")


if __name__ == "__main__":
    main()
