"""``python -m accounts``: run the accounts service until SIGINT or SIGTERM.

``python -m accounts grant-role --email ... --role dpo`` grants a staff role without
HTTP: the way to appoint the first DPO (SEC-2), who then grants roles through the API.
It is ``marketplace-staff grant`` (``accounts.staff_cli``, also ``revoke`` and ``list``):
it reads the embedded stack's secrets as ``make audit`` does.
"""

import sys

from accounts import bootstrap, staff_cli


def main(argv: list[str] | None = None) -> None:
    """Serve, or run a command-line tool."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        bootstrap.build().serve()
        return
    if args[0] == "grant-role":
        sys.exit(staff_cli.main(["grant", *args[1:]]))
    sys.exit(staff_cli.main(args))


if __name__ == "__main__":
    main()
