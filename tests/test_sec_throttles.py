"""Throttles hold under concurrency, on the whole platform (issue 26, ACC-4, CNS-8).

Each test poses as a client of its own through X-Forwarded-For (the test stack trusts
127.0.0.1 as its proxy), so its counts are not the other tests'.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from members import sign_up
from stack import Platform

pytestmark = pytest.mark.e2e

GUESSES = 100
PER_ACCOUNT = 5  # ACCOUNTS_LOGIN_MAX_FAILURES_PER_ACCOUNT's default
COOKIE_WRITES = 120  # CONSENT_COOKIE_WRITES_PER_ADDRESS's default


def posing_as() -> dict[str, str]:
    """A client address of this test's own (RFC 3849), behind a hop the client made up."""
    tag = uuid.uuid4().hex
    return {"X-Forwarded-For": f"198.51.100.1, 2001:db8::{tag[:4]}:{tag[4:8]}:{tag[8:12]}"}


def burst(platform: Platform, method: str, path: str, json: dict[str, object],
          headers: dict[str, str], n: int) -> list[httpx.Response]:
    """``n`` requests at once, each on its own connection and thread."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    with httpx.Client(base_url=platform.gateway_url, timeout=120, limits=limits) as client, \
            ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: client.request(method, path, json=json,
                                                      headers=headers), range(n)))


def assert_throttled(answers: list[httpx.Response], ceiling: int, allowed: int) -> None:
    """At most ``ceiling`` answers of status ``allowed``, every other one 429 + Retry-After."""
    codes = [a.status_code for a in answers]
    assert codes.count(allowed) <= ceiling, codes
    refused = [a for a in answers if a.status_code != allowed]
    assert {a.status_code for a in refused} == {429}, [a.text for a in refused][:3]
    for a in refused:
        assert a.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(a.headers["Retry-After"]) <= 15 * 60 + 1


def test_acc_4_a_hundred_parallel_wrong_guesses_get_at_most_the_limit_of_401s(
    platform: Platform, client: httpx.Client,
) -> None:
    m = sign_up(client, "guess", login=False)
    answers = burst(platform, "POST", "/v1/sessions",
                          {"email": m.email, "password": "wrong guess!", "remember_me": False},
                          posing_as(), GUESSES)
    assert_throttled(answers, PER_ACCOUNT, 401)
    assert [a.status_code for a in answers].count(401) >= 1
    # The account stays closed to guesses for the window, from any address.
    right = client.post("/v1/sessions", headers=posing_as(), json={
        "email": m.email, "password": m.password, "remember_me": False})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0


def test_acc_4_a_stolen_token_cannot_guess_the_password_at_step_up(
    platform: Platform, client: httpx.Client,
) -> None:
    m = sign_up(client, "stepup")
    answers = burst(platform, "POST", "/v1/sessions/current/reauth",
                          {"password": "wrong guess!"}, {**m.auth, **posing_as()}, GUESSES)
    assert_throttled(answers, PER_ACCOUNT, 401)
    right = client.post("/v1/sessions/current/reauth", json={"password": m.password},
                        headers={**m.auth, **posing_as()})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0


def test_acc_4_a_right_password_refunds_the_address_and_clears_the_account(
    client: httpx.Client,
) -> None:
    m = sign_up(client, "refund", login=False)
    me = posing_as()
    for _ in range(PER_ACCOUNT - 1):
        wrong = client.post("/v1/sessions", headers=me, json={
            "email": m.email, "password": "wrong guess!", "remember_me": False})
        assert wrong.status_code == 401
    for _ in range(PER_ACCOUNT + 1):  # the owner's log-ins do not use the budget up
        ok = client.post("/v1/sessions", headers=me, json={
            "email": m.email, "password": m.password, "remember_me": False})
        assert ok.status_code == 201, ok.text


def test_cns_8_cookie_writes_are_limited_per_client_address(
    platform: Platform, client: httpx.Client,
) -> None:
    me = posing_as()
    answers = burst(platform, "PUT", "/v1/cookies", {"analytics": True}, me,
                          COOKIE_WRITES + 10)
    codes = [a.status_code for a in answers]
    assert codes.count(200) == COOKIE_WRITES and codes.count(429) == 10, codes
    for a in answers:
        if a.status_code == 429:
            assert int(a.headers["Retry-After"]) > 0
    elsewhere = client.put("/v1/cookies", json={"analytics": False},
                           headers={"X-Forwarded-For": "192.0.2.200"})
    assert elsewhere.status_code == 200
