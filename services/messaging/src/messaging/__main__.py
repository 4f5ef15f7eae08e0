"""Runs the messaging service: ``python -m messaging``."""

from messaging import bootstrap

if __name__ == "__main__":
    bootstrap.build().serve()
