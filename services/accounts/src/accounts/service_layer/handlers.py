"""One handler per command: load, let the aggregate decide, persist in one transaction."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from uuid import uuid4

from accounts.adapters.repository import INTROSPECT_SQL, reauth_key
from accounts.domain import commands
from accounts.domain.errors import (
    AccountLockedForErasure,
    EmailTaken,
    InvalidChange,
    InvalidCredentials,
    NotFound,
    Unauthenticated,
)
from accounts.domain.model import Account, check_sign_up
from accounts.domain.sessions import Session
from accounts.service_layer import attempts
from accounts.service_layer.context import Context
from kernel.attempts import Limit
from kernel.logs import get_logger
from kernel.outbound import queue_message

log = get_logger(__name__)

MIN_PASSWORD = 8


def token_hash(token: str) -> bytes:
    """What the sessions table keys a bearer token by (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).digest()


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= 1024:
        raise InvalidChange(f"password must be {MIN_PASSWORD} to 1024 characters")


async def sign_up(cmd: commands.SignUp, ctx: Context) -> str:
    """Create an account (ACC-1); a refused attempt keeps and logs nothing (ACC-3)."""
    today = ctx.clock().date()
    check_sign_up(cmd, ctx.terms, today, ctx.min_age)
    _check_password(cmd.password)
    # Counted per address before the e-mail check: each try costs a hash or answers
    # whether an address is taken (issue 26).
    await attempts.attempt(ctx, [(attempts.address_key(ctx, "sign-up", cmd.client_address),
                                  Limit(ctx.throttle.sign_ups_per_address,
                                        ctx.throttle.sign_up_window))], "sign-up")
    async with ctx.reading() as repo:
        if await repo.email_taken(cmd.email):
            raise EmailTaken("an account with that e-mail address exists")
    password_hash = await ctx.passwords.hash(cmd.password)
    account_id = str(uuid4())
    account = Account.register(account_id, cmd, password_hash, ctx.terms, today, ctx.min_age,
                               ctx.pseudonym(account_id))
    async with ctx.transaction() as repo:
        await repo.add(account)
    log.info("accounts.registered", account_id=account_id, kind=cmd.kind)
    return account_id


async def log_in(cmd: commands.LogIn, ctx: Context) -> tuple[str, Session]:
    """Check the password and open a session; returns the bearer token (ACC-4).

    The guess is counted before the password is checked (issue 26): parallel wrong
    guesses get at most the ceiling of 401s, the rest 429.
    """
    now = ctx.clock()
    account_key = ctx.index.email(cmd.email)
    taken = await attempts.attempt(
        ctx, attempts.guess_keys(ctx, account_key, "client", cmd.client_address), "log-in")
    try:
        async with ctx.reading() as repo:
            account = await repo.get_by_email(cmd.email)
        usable = account is not None and account.status in ("active", "locked")
        right = await ctx.passwords.verify(account.password_hash if usable and account else None,
                                           cmd.password)
    except Exception:
        await attempts.unanswered(ctx, taken)
        raise
    if not right:
        log.info("accounts.login_failed")
        raise InvalidCredentials("wrong e-mail address or password")
    await attempts.succeeded(ctx, taken, account_key)
    assert account is not None
    if account.status == "locked":  # only after the right password: no account probing
        raise AccountLockedForErasure(
            "an erasure of this account is pending: log-in is closed until it is cancelled "
            "with the request's status token")
    token = secrets.token_urlsafe(32)
    async with ctx.transaction() as repo:
        locked = await repo.get(account.account_id, for_update=True)
        if locked is None or not locked.active:
            raise InvalidCredentials("wrong e-mail address or password")
        session = locked.start_session(str(uuid4()), cmd.remember_me, now, ctx.policy)
        await repo.publish(locked)
        await repo.add_session(token_hash(token), session)
        await repo.logged_in(account.account_id, now)
    log.info("accounts.session_started", account_id=account.account_id,
             session_id=session.session_id, remember_me=cmd.remember_me)
    return token, session


async def introspect(token: str, ctx: Context) -> dict[str, Any]:
    """The live session behind a bearer token: one indexed query, no hashing, no event."""
    row = await ctx.pool.fetchrow(INTROSPECT_SQL, token_hash(token))
    if row is None:
        raise Unauthenticated("the token is invalid or has ended")
    return dict(row)


async def own_session(ctx: Context, session_id: str, account_id: str | None) -> Session:
    """The active session ``session_id`` (of ``account_id`` if given); else ``Unauthenticated``."""
    async with ctx.reading() as repo:
        session = await repo.session(session_id)
    if session is None or (account_id is not None and session.account_id != account_id):
        raise Unauthenticated("no such session")
    session.require_active(ctx.clock())
    return session


async def log_out(cmd: commands.LogOut, ctx: Context) -> None:
    """End the session at once."""
    session = await own_session(ctx, cmd.session_id, cmd.account_id)
    async with ctx.transaction() as repo:
        account = await repo.get(session.account_id, for_update=True)
        if account is None:
            raise Unauthenticated("no such session")
        ended = account.end_sessions([session], "logout")
        await repo.revoke_sessions(ended)
        await repo.publish(account)


async def reauthenticate(cmd: commands.Reauthenticate, ctx: Context) -> Session:
    """Open the step-up window after a correct password (ACC-4)."""
    session = await own_session(ctx, cmd.session_id, None)
    now = ctx.clock()
    # A stolen bearer token must not buy unlimited guesses at the password (issue 26).
    account_key = reauth_key(ctx.index, session.account_id)
    taken = await attempts.attempt(
        ctx, attempts.guess_keys(ctx, account_key, "reauth", cmd.client_address), "step-up")
    try:
        async with ctx.reading() as repo:
            account = await repo.get(session.account_id)
        right = account is not None and await ctx.passwords.verify(account.password_hash,
                                                                   cmd.password)
    except Exception:
        await attempts.unanswered(ctx, taken)
        raise
    if account is None or not right:
        log.info("accounts.reauth_failed")
        raise InvalidCredentials("wrong password")
    await attempts.succeeded(ctx, taken, account_key)
    async with ctx.transaction() as repo:
        locked = await repo.get(session.account_id, for_update=True)
        current = await repo.session(session.session_id)
        if locked is None or current is None:
            raise Unauthenticated("no such session")
        opened = locked.step_up(current, now, ctx.policy)
        await repo.update_session(opened)
        await repo.publish(locked)
    return opened


async def own_account(token: str, ctx: Context) -> Account:
    """The account of a bearer token's live session: authentication and read in one query."""
    async with ctx.reading() as repo:
        account = await repo.get_by_session(token_hash(token))
    if account is None:
        raise Unauthenticated("the token is invalid or has ended")
    return account


async def get_account(account_id: str, ctx: Context) -> Account:
    """The member's own account (ACC-8)."""
    async with ctx.reading() as repo:
        account = await repo.get(account_id)
    if account is None:
        raise NotFound("no such account")
    return account


async def rectify(cmd: commands.Rectify, ctx: Context) -> Account:
    """Apply the member's corrections inside the step-up window (ACC-4, ACC-8)."""
    session = await own_session(ctx, cmd.session_id, cmd.account_id)
    session.require_step_up(ctx.clock())
    new_hash = None
    if cmd.new_password is not None:
        _check_password(cmd.new_password)
        new_hash = await ctx.passwords.hash(cmd.new_password)
    async with ctx.transaction() as repo:
        account = await repo.get(cmd.account_id, for_update=True)
        if account is None:
            raise NotFound("no such account")
        account.rectify(cmd.changes, ctx.clock().date(), ctx.min_age)
        if new_hash is not None:
            account.change_password(new_hash)
            others = [s for s in await repo.open_sessions(account.account_id, ctx.clock())
                      if s.session_id != session.session_id]
            await repo.revoke_sessions(account.end_sessions(others, "password_changed"))
            # A transactional notice: needs no marketing consent, passes the guard (CNS-7).
            await queue_message(repo.conn, "accounts", repo.keys, account.account_id,
                                "service_messages", "email", account.profile.email,
                                "Your password was changed",
                                "The password of your account was changed. If this was not "
                                "you, contact us at once.")
        if account.events:
            await repo.save(account)
    return account
