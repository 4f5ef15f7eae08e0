"""Handlers for devices, social identities, identity verification, closure and misuse."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from accounts.adapters.repository import Repository
from accounts.domain import commands
from accounts.domain.errors import InvalidChange, NotFound
from accounts.domain.model import Account
from accounts.service_layer.context import Context
from accounts.service_layer.handlers import own_session
from kernel.logs import get_logger

log = get_logger(__name__)


async def _locked(repo: Repository, account_id: str) -> Account:
    account = await repo.get(account_id, for_update=True)
    if account is None:
        raise NotFound("no such account")
    return account


async def register_device(cmd: commands.RegisterDevice, ctx: Context) -> dict[str, Any]:
    """Register a device for push notifications (ACC-5)."""
    registration_id = str(uuid4())
    async with ctx.transaction() as repo:
        account = await _locked(repo, cmd.account_id)
        account.register_device(registration_id, cmd)
        await repo.publish(account)
        device = {"device_id": cmd.device_id, "device_type": cmd.device_type,
                  "push_token": cmd.push_token}
        await repo.add_device(registration_id, cmd.account_id, device)
    return {"id": registration_id, **device}


async def list_devices(account_id: str, ctx: Context) -> list[dict[str, Any]]:
    """The member's registered devices."""
    async with ctx.reading() as repo:
        return await repo.devices(account_id)


async def remove_device(cmd: commands.RemoveDevice, ctx: Context) -> None:
    """Delete one of the member's devices; another member's is ``NotFound`` (SEC-2)."""
    async with ctx.transaction() as repo:
        account = await _locked(repo, cmd.account_id)
        if not await repo.remove_device(cmd.account_id, cmd.registration_id):
            raise NotFound("no such device")
        account.remove_device(cmd.registration_id)
        await repo.publish(account)


async def link_social_identity(cmd: commands.LinkSocialIdentity,
                               ctx: Context) -> dict[str, Any]:
    """Link an external identity with its grant recorded (ACC-6), as unverified.

    The provider subject and profile are the member's word, not the provider's, so the
    link is stored ``verified: false`` (issue 26): it proves nothing, blocks no one else's
    claim to the same identity, and must never let anyone log in. A verified link would
    need the provider's proof checked here: an OpenID Connect ID token from the provider's
    authorization-code flow (PKCE, ``state`` and ``nonce`` bound to this member's session),
    its signature checked against the provider's published keys (JWKS), ``iss`` the
    provider, ``aud`` our client id, ``exp``/``iat`` current, ``nonce`` ours, and ``sub``
    equal to ``provider_subject``; only the claims of that token may then be imported.
    """
    if not cmd.provider or not cmd.provider_subject:
        raise InvalidChange("provider and provider_subject are required")
    link_id = str(uuid4())
    async with ctx.transaction() as repo:
        if await repo.social_link_exists(cmd.provider, cmd.provider_subject, cmd.account_id):
            raise InvalidChange("that identity is already linked")
        account = await _locked(repo, cmd.account_id)
        imported = account.link_social_identity(link_id, cmd)
        await repo.publish(account)
        scopes = sorted(set(cmd.granted_scopes))
        await repo.add_social_link(link_id, cmd.account_id, cmd.provider, cmd.provider_subject,
                                   scopes, imported)
    return {"link_id": link_id, "provider": cmd.provider, "granted_scopes": scopes,
            "imported": imported, "verified": False}


async def list_social_identities(account_id: str, ctx: Context) -> list[dict[str, Any]]:
    """The member's linked identities, with the scopes granted."""
    async with ctx.reading() as repo:
        return await repo.social_links(account_id)


async def unlink_social_identity(cmd: commands.UnlinkSocialIdentity, ctx: Context) -> None:
    """Remove a link; another member's is ``NotFound`` (SEC-2)."""
    async with ctx.transaction() as repo:
        account = await _locked(repo, cmd.account_id)
        if not await repo.remove_social_link(cmd.account_id, cmd.link_id):
            raise NotFound("no such social identity")
        account.unlink_social_identity(cmd.link_id)
        await repo.publish(account)


async def record_identity_verification(cmd: commands.RecordIdentityVerification,
                                       ctx: Context) -> dict[str, Any]:
    """Set the identity-verification status (ACC-7)."""
    async with ctx.transaction() as repo:
        account = await _locked(repo, cmd.account_id)
        account.record_verification(cmd, ctx.clock())
        await repo.save(account)
    return dict(account.profile.verification or {})


async def close_account(cmd: commands.CloseAccount, ctx: Context) -> None:
    """Close the account inside the step-up window (ACC-9)."""
    session = await own_session(ctx, cmd.session_id, cmd.account_id)
    session.require_step_up(ctx.clock())
    async with ctx.transaction() as repo:
        account = await _locked(repo, cmd.account_id)
        sessions = await repo.open_sessions(cmd.account_id, ctx.clock())
        account.close(sessions)
        await repo.revoke_sessions([s.session_id for s in sessions])
        await repo.save(account)
    log.info("accounts.closed", account_id=cmd.account_id)


async def report_misuse(cmd: commands.ReportMisuse, ctx: Context) -> dict[str, Any]:
    """Revoke every session and record the security event (ACC-11)."""
    report_id = str(uuid4())
    async with ctx.transaction() as repo:
        account = await _locked(repo, cmd.account_id)
        sessions = await repo.open_sessions(cmd.account_id, ctx.clock())
        revoked = account.report_misuse(report_id, sessions, cmd.note)
        await repo.revoke_sessions([s.session_id for s in sessions])
        await repo.publish(account)
    log.warning("accounts.misuse_reported", account_id=cmd.account_id,
                report_id=report_id, sessions_revoked=revoked)
    return {"report_id": report_id, "sessions_revoked": revoked}


async def public_profile(account_id: str, ctx: Context) -> dict[str, Any]:
    """What anyone may see of an account: the username, or the pseudonym once closed (ACC-10)."""
    async with ctx.reading() as repo:
        account = await repo.get(account_id)
    if account is None:
        raise NotFound("no such member")
    shown = {"account_id": account_id, "kind": account.kind, "username": account.public_name}
    if account.active and account.profile.show_real_name:
        shown["name"] = account.profile.name
    return shown
