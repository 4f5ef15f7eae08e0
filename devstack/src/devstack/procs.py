"""Child-process helpers: die with the parent, stop with SIGTERM then SIGKILL."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when the runner dies, so nothing is orphaned."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def child_preexec() -> Callable[[], None] | None:
    """The ``preexec_fn`` for children of the runner (``None`` off Linux)."""
    return _die_with_parent if sys.platform.startswith("linux") else None


def stop_all(procs: Iterable[subprocess.Popen[bytes]], grace: float) -> list[int | None]:
    """SIGTERM every running process, wait up to ``grace`` seconds, then SIGKILL the rest.

    Args:
        procs: The processes; ones that already exited are left alone.
        grace: Seconds they get to exit on their own.

    Returns:
        Each process's exit code, in order.
    """
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    return [proc.returncode for proc in procs]


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


def become_subreaper() -> bool:
    """Adopt the processes our children leave behind (Linux ``PR_SET_CHILD_SUBREAPER``).

    ``pg_ctl`` starts PostgreSQL detached, so its postmaster is re-parented; after a
    kill -9 it stays a zombie until its parent reaps it, and an init that reaps late makes
    ``pg_ctl`` believe the server still runs. As the subreaper the runner reaps it itself
    (:func:`reap_orphans`). Returns whether it worked.
    """
    libc_name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def reap_orphans(keep: Iterable[int]) -> list[int]:
    """Reap the exited children of this process, except those in ``keep`` (its own
    ``Popen`` children, whose exit codes ``Popen`` collects). Returns the pids reaped."""
    mine, kept, reaped = os.getpid(), set(keep), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in kept:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                _, _, rest = f.read().rpartition(") ")
        except OSError:
            continue
        fields = rest.split()
        if len(fields) > 1 and fields[0] == "Z" and int(fields[1]) == mine:
            try:
                os.waitpid(int(entry), os.WNOHANG)
                reaped.append(int(entry))
            except ChildProcessError:
                pass
    return reaped
