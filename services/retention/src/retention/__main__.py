"""Run the retention service: ``python -m retention``."""

from retention import bootstrap

if __name__ == "__main__":
    bootstrap.build().serve()
