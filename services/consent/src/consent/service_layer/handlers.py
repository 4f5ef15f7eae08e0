"""One handler per command: load the ledger, let it decide, append in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import uuid4

import asyncpg

from consent.domain import commands
from consent.domain.errors import Forbidden, NotFound, TooManyWrites
from consent.domain.ledger import Ledger
from consent.service_layer.context import Context
from contracts.consent import ConsentLedgerRead
from kernel.eventstore import NewEvent, StreamHead
from kernel.logs import get_logger
from kernel.unsubscribe import read_unsubscribe_token

log = get_logger(__name__)

T = TypeVar("T")


def _id() -> str:
    return str(uuid4())


async def _change(ctx: Context, subject_id: str,
                  decide: Callable[[Ledger, datetime], T]) -> T:
    now = ctx.clock()
    async with ctx.transaction() as repo:
        ledger, head = await repo.load(subject_id)
        result = decide(ledger, now)
        await repo.save(ledger, head)
    return result


async def set_consent(cmd: commands.SetConsent, ctx: Context) -> dict[str, Any]:
    """Record a grant, withdrawal or objection; returns the purpose's new state."""
    state = await _change(ctx, cmd.subject_id, lambda ledger, now: ledger.decide(
        ctx.catalogue, cmd.purpose, cmd.granted, cmd.source, cmd.channel, now, _id()))
    log.info("consent.decided", purpose=cmd.purpose, granted=state.granted, source=cmd.source)
    return state.view()


async def set_preferences(cmd: commands.SetPreferences, ctx: Context) -> dict[str, Any]:
    """Change preferences; returns every channel's kinds after the change."""
    prefs = await _change(ctx, cmd.subject_id, lambda ledger, now: ledger.set_preferences(
        ctx.catalogue, cmd.changes, cmd.source, now, _id()))
    return {"channels": prefs}


async def set_restriction(cmd: commands.SetRestriction, ctx: Context) -> dict[str, Any]:
    """Restrict processing or lift it (PRV-6)."""
    restricted = await _change(ctx, cmd.subject_id, lambda ledger, now: ledger.restrict(
        ctx.catalogue, cmd.restricted, cmd.source, cmd.request_id, now, _id()))
    log.info("consent.restriction", restricted=restricted, source=cmd.source)
    return {"restricted": restricted}


async def carry_out_request(subject_id: str, request_id: str, type_: str,
                            ctx: Context) -> None:
    """A verified restriction (PRV-6) or objection (PRV-4: every legitimate-interest purpose)
    request, carried out and recorded as such in one transaction; idempotent."""
    slugs = [p.slug for p in ctx.catalogue.purposes.values()
             if p.legal_basis == "legitimate_interest"]

    def decide(ledger: Ledger, now: datetime) -> None:
        done = any(getattr(e.event, "request_id", None) == request_id for e in ledger.entries)
        if done:
            return
        if type_ == "restriction":
            ledger.restrict(ctx.catalogue, True, "privacy_request", request_id, now, _id())
        else:
            for slug in slugs:
                ledger.decide(ctx.catalogue, slug, False, "privacy_request", None, now, _id())
        ledger.carried_out(request_id, type_, now, _id())

    await _change(ctx, subject_id, decide)
    log.info("consent.request_carried_out", request_id=request_id, type=type_)


async def set_cookies(cmd: commands.SetCookies, ctx: Context) -> dict[str, Any]:
    """Record cookie choices; functional cookies are always on (CNS-8).

    Counted per client address first (issue 26): an anonymous write creates a ledger that
    is kept, so a flood from one address is refused with ``TooManyWrites``.
    """
    address_key = ctx.index.digest("cookies-address", cmd.client_address or "")
    taken = await ctx.attempts.take(ctx.pool, [(address_key, ctx.cookie_limit)], ctx.clock())
    if taken.retry_after is not None:
        log.warning("consent.cookie_writes_throttled", retry_after=taken.retry_after)
        raise TooManyWrites("too many cookie choices from here; try again later",
                            taken.retry_after)

    def decide(ledger: Ledger, now: datetime) -> dict[str, Any]:
        for slug, granted in (("cookies_analytics", cmd.analytics),
                              ("cookies_marketing", cmd.marketing)):
            ledger.decide(ctx.catalogue, slug, granted, "cookie_banner", "web", now, _id())
        return cookie_view(ledger, ctx, now)

    return await _change(ctx, cmd.subject_id, decide)


def cookie_view(ledger: Ledger, ctx: Context, at: datetime) -> dict[str, Any]:
    """The cookie categories' state: functional always on."""
    states = ledger.state_at(ctx.catalogue, at).purposes
    return {"functional": True, "analytics": states["cookies_analytics"].granted,
            "marketing": states["cookies_marketing"].granted}


async def read_cookies(subject_id: str, ctx: Context) -> dict[str, Any]:
    """The subject's cookie choices now."""
    async with ctx.reading() as repo:
        ledger, _ = await repo.load(subject_id)
    return cookie_view(ledger, ctx, ctx.clock())


async def unsubscribe(cmd: commands.Unsubscribe, ctx: Context) -> dict[str, Any]:
    """Withdraw the token's purpose for the token's member; idempotent (CNS-4).

    Raises:
        NotFound: a tampered or unknown token, or a purpose that cannot be withdrawn.
    """
    named = read_unsubscribe_token(ctx.index, cmd.token)
    purpose = ctx.catalogue.purpose(named[1]) if named else None
    if named is None or purpose is None or not purpose.decidable:
        raise NotFound("no such unsubscribe link")
    channel = purpose.channels[0] if purpose.channels else None
    state = await set_consent(commands.SetConsent(named[0], purpose.slug, False,
                                                  "unsubscribe_link", channel), ctx)
    return {"purpose": state["purpose"], "granted": state["granted"]}


async def read_consents(subject_id: str, ctx: Context,
                        as_of: datetime | None = None) -> dict[str, Any]:
    """The subject's state now or at ``as_of``, with the ledger entries up to then (CNS-5)."""
    at = as_of or ctx.clock()
    async with ctx.reading() as repo:
        ledger, _ = await repo.load(subject_id)
    view = ledger.state_at(ctx.catalogue, at).view()
    if as_of is not None:
        view["ledger"] = [e.view() for e in ledger.entries if e.at <= at]
    return view


async def _require_dpo(conn: asyncpg.Connection, account_id: str) -> None:
    if not await conn.fetchval(
        "SELECT 1 FROM consent.staff_roles WHERE account_id = $1 AND role = 'dpo'", account_id,
    ):
        raise Forbidden("only a DPO may do this")


async def staff_restrict(staff_account_id: str, cmd: commands.SetRestriction,
                         ctx: Context) -> dict[str, Any]:
    """A DPO restricts a member's processing or lifts it (PRV-6).

    Raises:
        Forbidden: the caller is not a DPO.
    """
    async with ctx.reading() as repo:
        await _require_dpo(repo.conn, staff_account_id)
    return await set_restriction(cmd, ctx)


async def staff_read(cmd: commands.StaffReadLedger, ctx: Context) -> dict[str, Any]:
    """A DPO reads a member's consents at an instant; the access is recorded (SEC-2).

    Raises:
        Forbidden: the caller is not a DPO.
    """
    at = cmd.as_of or ctx.clock()
    access_id = _id()
    async with ctx.transaction() as repo:
        await _require_dpo(repo.conn, cmd.staff_account_id)
        ledger, _ = await repo.load(cmd.subject_id)
        await ctx.store.append(repo.conn, f"staff-access-{access_id}", StreamHead(), [NewEvent(
            ConsentLedgerRead(access_id=access_id, staff_account_id=cmd.staff_account_id,
                              role="dpo", subject_id=cmd.subject_id, purpose=cmd.purpose,
                              as_of=cmd.as_of.isoformat() if cmd.as_of else None),
            cmd.subject_id)])
    view = ledger.state_at(ctx.catalogue, at).view()
    view["ledger"] = [e.view() for e in ledger.entries if e.at <= at]
    view["access_id"] = access_id
    log.info("consent.staff_read", access_id=access_id)
    return view
