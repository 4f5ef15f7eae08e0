"""Issue 26 (SEC-2, API.md "Ownership"): no smuggled path parameter reaches a member's data.

Against the real platform. Every templated route of the gateway's ``/openapi.json`` (read
at run time, so a route added later is covered) is called once per path parameter and
smuggling variant: the parameter is the victim's account id followed (or preceded) by an
encoded ``?``, ``#``, query, ``/``, ``../`` (encoded once and twice), NUL or CRLF, the other
parameters and the body valid (drawn by schemathesis from the schema). Each call is made
without a token and as another member; no answer may be a 5xx or hold any of the victim's
values (e-mail, name, phone, street, date of birth, device and push token).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from members import sign_up
from schemathesis.core import NotSet
from stack import Platform
from victims import Victim, victim

pytestmark = pytest.mark.e2e

SUFFIXES = ["%3F", "%23", "%3Fx%3D1", "%252Fdevices%3F", "%2Fdevices%3F", "%252Fdevices",
            "%2F..%2F", "%2F%2E%2E%2F", "%252F%252E%252E%252F", "%252F..%252Fdevices%3F",
            "%00", "%0D%0A", "%0D%0AX-Account-Id:%20x"]
PREFIXES = ["..%2F", "%2E%2E%2F", "%252E%252E%252F", "..%252F..%252Finternal%252Faccounts%252F"]
"""Put before the id: a ``../`` walk encoded once and twice."""

CLIENT = {"X-Forwarded-For": "192.0.2.78"}  # documentation range: not the tests' throttle

__all__ = ["victim"]  # the fixture, from victims.py


def _example(operation: Any) -> Any:
    """One valid case of ``operation`` (path parameters, query and body) from its schema."""
    drawn: list[Any] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=1, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def draw(case: Any) -> None:
        drawn.append(case)

    draw()
    return drawn[0]


def _targets(platform: Platform, victim: Victim) -> list[tuple[str, str, str, Any]]:
    """``(method, template, parameter, case)`` for every path parameter of every route."""
    schema = schemathesis.openapi.from_url(f"{platform.gateway_url}/openapi.json")
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if "{" not in operation.path:
            continue
        case = _example(operation)
        for name in case.path_parameters or {}:
            found.append((operation.method.upper(), operation.path, name, case))
    return found


def _url(template: str, case: Any, smuggled: str, raw: str, victim: Victim) -> str:
    """The path with ``smuggled`` as ``raw`` (already encoded) and the others valid."""
    path = template
    for name, value in (case.path_parameters or {}).items():
        if name == smuggled:
            path = path.replace("{" + name + "}", raw)
        else:
            valid = victim.account_id if _is_uuid(str(value)) else str(value)
            path = path.replace("{" + name + "}", quote(valid, safe=""))
    return path


def _is_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


def test_no_smuggled_path_reaches_a_members_data(
    client: httpx.Client, platform: Platform, victim: Victim,
) -> None:
    mallory = sign_up(client, "mallory")
    own = client.get("/v1/me", headers=victim.auth)
    assert [v for v in victim.secrets()[:5] if v in own.text] == victim.secrets()[:5]
    devices = client.get("/v1/me/devices", headers=victim.auth).text
    assert victim.push_token in devices  # the detector sees the values where they belong

    targets = _targets(platform, victim)
    assert len({t[1] for t in targets}) >= 25, "too few templated routes found"
    variants = [victim.account_id + s for s in SUFFIXES] + [p + victim.account_id
                                                             for p in PREFIXES]
    failures: list[tuple[str, str, str, int, int]] = []
    calls = 0
    for caller in ({}, mallory.auth):
        for method, template, name, case in targets:
            body = None if isinstance(case.body, NotSet) else orjson.dumps(case.body)
            for raw in variants:
                path = _url(template, case, name, raw, victim)
                resp = client.request(
                    method, path, params=case.query or None, content=body,
                    headers={**CLIENT, **caller,
                             **({"content-type": "application/json"} if body else {})})
                calls += 1
                leaked = [v for v in victim.secrets() if v in resp.text]
                if resp.status_code >= 500 or leaked:
                    failures.append((method, path, "token" if caller else "none",
                                     resp.status_code, len(leaked)))
    assert calls >= 2 * len(targets) * len(variants)
    assert failures == []
