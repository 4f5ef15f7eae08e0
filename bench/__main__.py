"""Run every benchmark: ``make bench`` (or ``python -m bench [name ...]``)."""

from __future__ import annotations

import importlib
import subprocess
import sys

BENCHES = ("write_path", "pipeline", "latency", "erasure", "audit_replay", "recovery",
           "consent_withdrawal", "listings_search", "soak", "scanner", "messaging", "export")
"""Modules of ``bench``, each printing its figures beside their targets."""


def main() -> int:
    """Run the named benchmarks (default: all), each in its own process."""
    names = sys.argv[1:] or list(BENCHES)
    failed = 0
    for name in names:
        try:
            importlib.util.find_spec(f"bench.{name}")
        except ModuleNotFoundError:
            continue
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"{name}: not written yet", flush=True)
            continue
        print(f"== {name}", flush=True)
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
