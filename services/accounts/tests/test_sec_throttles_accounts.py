"""Sign-ups limited per client address, social links unverified (issue 26, ACC-1, ACC-6).

Against the in-process accounts service on the real PostgreSQL; the test stack raises
the sign-up limit for every other test, so this one sets its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from accounts.domain import commands
from accounts.domain.errors import TooManyAttempts
from accounts.service_layer import handlers
from accounts.service_layer.context import Context
from kernel.service import ServiceHost

pytestmark = pytest.mark.integration


def sign_up_cmd(address: str) -> commands.SignUp:
    tag = uuid.uuid4().hex[:10]
    return commands.SignUp(email=f"{tag}@example.org", password="correct horse battery",
                           name=f"Name {tag}", username=f"user_{tag}",
                           accept_terms_version="2026-01", client_address=address)


@pytest.fixture
def ctx(accounts_host: ServiceHost) -> Context:
    """The running service's context with a sign-up limit of three an hour."""
    assert accounts_host.runtime is not None
    running: Context = accounts_host.runtime.extra["ctx"]
    return dataclasses.replace(running, throttle=dataclasses.replace(
        running.throttle, sign_ups_per_address=3, sign_up_window=timedelta(hours=1)))


async def test_acc_1_parallel_sign_ups_from_one_address_stop_at_the_limit(ctx: Context) -> None:
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"
    outcomes = await asyncio.gather(*(handlers.sign_up(sign_up_cmd(address), ctx)
                                      for _ in range(8)), return_exceptions=True)
    made = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, TooManyAttempts)]
    assert len(made) == 3 and len(refused) == 5, outcomes
    assert all(3500 < r.retry_after <= 3601 for r in refused)
    # The 409 oracle is behind the same count: a taken e-mail costs an attempt too.
    with pytest.raises(TooManyAttempts):
        await handlers.sign_up(sign_up_cmd(address), ctx)
    assert await handlers.sign_up(sign_up_cmd(address + "-elsewhere"), ctx)


async def test_acc_1_the_internal_api_answers_429_with_retry_after(
    accounts_host: ServiceHost, ctx: Context, client: httpx.AsyncClient,
) -> None:
    assert accounts_host.runtime is not None
    running = accounts_host.runtime.extra["ctx"]
    accounts_host.runtime.extra["ctx"] = ctx
    try:
        address = {"X-Client-Address": f"203.0.113.{uuid.uuid4().hex[:8]}"}
        codes = []
        for _ in range(4):
            cmd = sign_up_cmd("")
            body: dict[str, Any] = {k: v for k, v in dataclasses.asdict(cmd).items()
                                    if k != "client_address"}
            answer = await client.post("/internal/accounts", json=body, headers=address)
            codes.append(answer.status_code)
        assert codes == [201, 201, 201, 429]
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.json()["error"]["code"] == "too_many_attempts"
    finally:
        accounts_host.runtime.extra["ctx"] = running


async def signed_up(client: httpx.AsyncClient) -> str:
    tag = uuid.uuid4().hex[:10]
    resp = await client.post("/internal/accounts", json={
        "email": f"{tag}@example.org", "password": "correct horse battery",
        "name": f"Name {tag}", "username": f"user_{tag}", "accept_terms_version": "2026-01"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["account_id"])


async def test_acc_6_a_social_link_is_unverified_and_squats_no_ones_identity(
    client: httpx.AsyncClient,
) -> None:
    mallory, alice = await signed_up(client), await signed_up(client)
    claim = {"provider": "google", "provider_subject": f"g-{uuid.uuid4().hex}",
             "granted_scopes": ["profile"], "profile": {"name": "Alice"}}
    first = await client.post(f"/internal/accounts/{mallory}/social-identities", json=claim)
    assert first.status_code == 201 and first.json()["verified"] is False
    [listed] = (await client.get(
        f"/internal/accounts/{mallory}/social-identities")).json()["items"]
    assert listed["verified"] is False
    # Mallory's word proves nothing: the real owner can still link it, and learns nothing.
    owner = await client.post(f"/internal/accounts/{alice}/social-identities", json=claim)
    assert owner.status_code == 201 and owner.json()["verified"] is False
    again = await client.post(f"/internal/accounts/{mallory}/social-identities", json=claim)
    assert again.status_code == 422


class _BrokenHasher:
    """A password check that fails for a reason other than a wrong password."""

    async def verify(self, stored: str | None, password: str) -> bool:
        raise ConnectionResetError("the database went away")


async def test_acc_4_an_attempt_that_failed_before_the_password_was_judged_is_given_back(
    ctx: Context,
) -> None:
    """An outage must not lock members out: a log-in or step-up that fails for another
    reason than a wrong password leaves nothing counted (issue 26)."""
    address = f"198.51.100.7-{uuid.uuid4().hex[:6]}"
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    broken = dataclasses.replace(ctx, passwords=_BrokenHasher())  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(ConnectionResetError):
            await handlers.log_in(commands.LogIn(email, "guess", False, address), broken)
    counted = await ctx.pool.fetch(
        f"SELECT count FROM {ctx.attempts.table} WHERE key = ANY($1::bytea[])",
        [ctx.index.email(email), *(k for k, _ in attempts_keys(ctx, email, address))])
    assert all(r["count"] == 0 for r in counted), counted
    # a wrong password still counts
    from accounts.domain.errors import InvalidCredentials
    with pytest.raises(InvalidCredentials):
        await handlers.log_in(commands.LogIn(email, "guess", False, address), ctx)
    counted = await ctx.pool.fetchval(
        f"SELECT count FROM {ctx.attempts.table} WHERE key = $1", ctx.index.email(email))
    assert counted == 1


def attempts_keys(ctx: Context, email: str, address: str) -> list[tuple[bytes, Any]]:
    from accounts.service_layer import attempts
    return attempts.guess_keys(ctx, ctx.index.email(email), "client", address)
