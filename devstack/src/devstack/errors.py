"""The one error the stack runner raises for anything a person must fix."""

from __future__ import annotations


class StackError(RuntimeError):
    """The embedded stack could not start or stop; the message says why and what to do."""
