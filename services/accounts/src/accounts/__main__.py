"""``python -m accounts``: run the accounts service until SIGINT or SIGTERM."""

from accounts import bootstrap


def main() -> None:
    """Build the service and serve it."""
    bootstrap.build().serve()


if __name__ == "__main__":
    main()
