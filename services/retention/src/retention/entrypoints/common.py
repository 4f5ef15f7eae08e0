"""What the retention service's routes share: the runtime and its wired adapters."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from kernel.http import ApiError
from kernel.service import Runtime


def runtime(request: Request) -> Runtime:
    """The running service behind a request."""
    rt: Runtime = request.app.state.runtime
    return rt


def part(rt: Runtime, name: str) -> Any:
    """A wired adapter; 503 until the service has migrated and wired its adapters."""
    found = rt.extra.get(name)
    if found is None:
        raise ApiError(503, "unavailable", "the service is starting", {"Retry-After": "1"})
    return found
