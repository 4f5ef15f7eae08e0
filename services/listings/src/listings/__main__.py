"""Runs the listings service: ``python -m listings``."""

from listings import bootstrap

if __name__ == "__main__":
    bootstrap.build().serve()
