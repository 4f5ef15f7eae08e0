"""Keeps the compacted ``accounts.public-profiles.v1`` topic: latest profile, tombstone on
erasure (ACC-10, RET-5).

A consumer of the service's own events, so the topic follows the event store: its state
per account lives in ``accounts.public_profiles`` (ciphertext and pseudonyms only) and is
published after each change; an erasure publishes a tombstone and deletes the row.
Re-publishing the latest state is harmless, which makes at-least-once delivery enough.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from contracts.accounts import (
    PUBLIC_PROFILES_TOPIC,
    AccountClosed,
    AccountDetailsChanged,
    AccountErased,
    AccountLocked,
    AccountRegistered,
    AccountUnlocked,
    PublicProfile,
)
from contracts.topics import events_topic
from kernel.consumer import Delivered, Handler
from kernel.service import ConsumerSpec, Runtime

_TYPES = (AccountRegistered, AccountDetailsChanged, AccountClosed, AccountErased,
          AccountLocked, AccountUnlocked)


def _next(state: dict[str, Any] | None, item: Delivered) -> dict[str, Any] | None:
    """The profile after one event (``None``: erased), from the envelope alone."""
    env, payload = item.envelope, item.envelope.payload
    if env.event_type == AccountErased.event_type:
        return None
    if env.event_type == AccountRegistered.event_type:
        return {"account_id": payload["account_id"], "status": "active",
                "pseudonym": payload.get("pseudonym") or "", "username": payload["username"],
                "username_event_id": str(env.event_id)}
    if state is None:
        return None  # a change to an account this topic never saw (or one already erased)
    if env.event_type == AccountLocked.event_type and state["status"] == "active":
        return {**state, "status": "locked"}  # the username stays here, withheld on the topic
    if env.event_type == AccountUnlocked.event_type and state["status"] == "locked":
        return {**state, "status": "active"}
    if env.event_type == AccountClosed.event_type:
        return {**state, "status": "closed", "pseudonym": payload["pseudonym"],
                "username": None, "username_event_id": None}
    if payload.get("username") is not None and state["status"] == "active":
        return {**state, "username": payload["username"], "username_event_id": str(env.event_id)}
    return state


def _handler(rt: Runtime) -> Handler:
    async def handle(conn: asyncpg.Connection, batch: list[Delivered]) -> None:
        ids = sorted({d.envelope.subject_id for d in batch if d.envelope.subject_id})
        rows = await conn.fetch(
            "SELECT * FROM accounts.public_profiles WHERE account_id = ANY($1::text[])", ids)
        states: dict[str, dict[str, Any] | None] = {r["account_id"]: dict(r) for r in rows}
        touched: list[str] = []
        for item in batch:
            subject = item.envelope.subject_id
            if subject is None:
                continue
            states[subject] = _next(states.get(subject), item)
            touched.append(subject)
        for subject in dict.fromkeys(touched):
            state = states[subject]
            if state is None:
                await conn.execute(
                    "DELETE FROM accounts.public_profiles WHERE account_id = $1", subject)
                value = None
            else:
                await conn.execute(
                    "INSERT INTO accounts.public_profiles VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (account_id) DO UPDATE SET status = EXCLUDED.status, "
                    "pseudonym = EXCLUDED.pseudonym, username = EXCLUDED.username, "
                    "username_event_id = EXCLUDED.username_event_id",
                    subject, state["status"], state["pseudonym"], state["username"],
                    state["username_event_id"],
                )
                shown = state if state["status"] != "locked" else {
                    **state, "username": None, "username_event_id": None}
                value = PublicProfile.model_validate(shown).model_dump_json().encode()
            assert rt.producer is not None  # consumers run only once the producer is up
            await rt.producer.send_and_wait(PUBLIC_PROFILES_TOPIC, value, key=subject.encode())

    return handle


def public_profiles_consumer() -> ConsumerSpec:
    """The consumer keeping the compacted public-profiles topic."""
    return ConsumerSpec(
        name="public-profiles", topics=[events_topic("accounts")], handler=_handler,
        event_types=[t.event_type for t in _TYPES],
    )
