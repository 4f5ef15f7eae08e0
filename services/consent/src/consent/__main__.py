"""Runs the consent service: ``python -m consent``."""

from consent import bootstrap

if __name__ == "__main__":
    bootstrap.build().serve()
