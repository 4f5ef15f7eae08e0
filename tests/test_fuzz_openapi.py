"""Every route of ``/openapi.json`` fuzzed with schemathesis: no 5xx, and no answer holds
another member's data (TARGETS.md, SEC-2, issue 26).

Runs against the real gateway and services. The fuzzing member is neither the victim nor
staff, so none of the victim's values (e-mail, name, phone, street, date of birth, device
and push token) may appear in any answer; every id-shaped path parameter is pointed at the
victim. Requests carry a documentation-range client address (RFC 5737) so the log-in
throttle this fuzzing trips is not the tests' own.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from members import sign_up
from stack import Platform
from victims import Victim, victim

pytestmark = pytest.mark.e2e

FUZZ_CLIENT = {"X-Forwarded-For": "192.0.2.77"}
UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

__all__ = ["victim"]  # the fixture, from victims.py


@pytest.fixture(scope="module")
def member_auth(platform: Platform) -> dict[str, str]:
    """A live session, so authenticated routes are fuzzed past the 401."""
    with httpx.Client(base_url=platform.gateway_url, timeout=30) as client:
        return sign_up(client, "fuzz").auth


def headers_for(case: Any, member_auth: dict[str, str]) -> dict[str, str]:
    """The fuzzing client's address, and the session except where it would end it."""
    headers = {**FUZZ_CLIENT}
    ends_session = case.path in ("/v1/me/closure", "/v1/me/misuse-report") or (
        case.method == "DELETE" and case.path in ("/v1/me", "/v1/sessions/current"))
    if not ends_session and "/v1/privacy-requests" not in case.path:
        headers.update(member_auth)
    return headers


def aimed_at(case: Any, victim: Victim) -> None:
    """Point every id-shaped path parameter of ``case`` at the victim."""
    for name, value in (case.path_parameters or {}).items():
        if isinstance(value, str) and UUID.match(value):
            case.path_parameters[name] = victim.account_id


def test_no_route_answers_a_server_error_or_another_members_data(
    platform: Platform, member_auth: dict[str, str], victim: Victim,
) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.gateway_url}/openapi.json")
    failures: list[tuple[str, str, int, str]] = []
    operations = 0
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            aimed_at(case, victim)
            response = case.call(base_url=platform.gateway_url,
                                 headers=headers_for(case, member_auth), timeout=30)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append((case.method, case.path, response.status_code,
                                 response.text[:200]))
            leaked = [v for v in victim.secrets() if v in response.text]
            if leaked:
                failures.append((case.method, case.path, response.status_code,
                                 f"{len(leaked)} of the victim's values"))

        fuzz()
    assert operations >= 20 and len(calls) >= 10 * operations
    assert failures == []
