"""Unit tests of hash-chain verification (AUD-2) and replay with erased subjects (AUD-1)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import msgspec
import orjson
import pytest

from contracts.accounts import AccountRegistered, SessionEnded
from kernel.eventstore import EventStore, NewEvent, StreamHead
from kernel.keystore import InMemoryKeyStore
from retention.service_layer.replay import (
    EventQuery,
    LogEvent,
    compare_heads,
    decrypted,
    event_record,
    intact,
    reconstruct,
    select,
    verify,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, tzinfo=UTC)


async def _log(keys: InMemoryKeyStore, subject: str = "s1") -> list[LogEvent]:
    store = EventStore("accounts", keys)
    events = [
        NewEvent(AccountRegistered(account_id=subject, kind="member", email="a@example.org",
                                   name="Ann Example", username="ann", password_hash="h",
                                   terms_version="1"), subject, occurred_at=T0),
        NewEvent(SessionEnded(session_id="x", account_id=subject, reason="logout"), subject,
                 occurred_at=T0 + timedelta(hours=1)),
        NewEvent(SessionEnded(session_id="y", account_id=subject, reason="logout"), subject,
                 occurred_at=T0 + timedelta(hours=2)),
    ]
    recs = await store.encode(f"account-{subject}", StreamHead(), events)
    return [LogEvent.parse(dataclasses.replace(r, position=i + 1).envelope_bytes("accounts"))
            for i, r in enumerate(recs)]


async def test_aud2_intact_chain_with_redelivery_verifies() -> None:
    log = await _log(InMemoryKeyStore())
    checked = verify([*log, log[1]])
    assert checked.breaks == [] and checked.events == 3 and checked.duplicates == 1


async def test_aud2_altered_event_is_a_break() -> None:
    log = await _log(InMemoryKeyStore())
    log[1].payload["reason"] = "misuse_reported"  # altered after the hash was checked
    log[1].digest_ok = None
    reasons = [b["reason"] for b in verify(log).breaks]
    assert any("altered" in r for r in reasons)


async def test_aud2_altered_bytes_on_the_log_are_a_break() -> None:
    """The hash is checked over the payload as published, byte for byte: an altered
    value, or the same content laid out otherwise, is caught when the envelope is read;
    a layout a hash would miss (another key order) still passes as the stored content."""
    store = EventStore("accounts", InMemoryKeyStore())
    (rec,) = await store.encode("account-s1", StreamHead(), [NewEvent(
        SessionEnded(session_id="x", account_id="s1", reason="logout"), "s1",
        occurred_at=T0)])
    value = dataclasses.replace(rec, position=1).envelope_bytes("accounts")
    assert LogEvent.parse(value).digest_ok is True
    assert LogEvent.parse(value.replace(b'"logout"', b'"misuse"')).digest_ok is False
    spaced = value.replace(b'"reason":"logout"', b'"reason": "logout"')
    assert spaced != value and LogEvent.parse(spaced).digest_ok is True
    assert verify([LogEvent.parse(value.replace(b'"x"', b'"y"'))]).breaks[0]["reason"] == \
        "content does not match its hash (altered)"


async def test_aud2_hashes_checked_in_workers_and_linked_in_the_parent() -> None:
    """Parallel replay: shares of a stream from two workers (each event's hash already
    checked and its payload decrypted) link in the parent as in one process."""
    keys = InMemoryKeyStore()
    log = await _log(keys)
    key = (await keys.keys_for_reading(["s1"]))["s1"]
    one = reconstruct(verify(log), {"s1": key}, set())
    shares = [msgspec.structs.replace(ev, digest_ok=intact(ev), plain=decrypted(ev, key))
              for ev in log]
    assert reconstruct(verify([shares[2], shares[0], shares[1]]), {}, set()) == one
    altered = [*shares[:1], msgspec.structs.replace(shares[1], digest_ok=False), shares[2]]
    (brk,) = verify(altered).breaks
    assert brk["version"] == 2 and "altered" in brk["reason"]
    assert "missing" in verify([shares[0], shares[2]]).breaks[0]["reason"]


async def test_aud2_missing_event_is_a_break() -> None:
    log = await _log(InMemoryKeyStore())
    breaks = verify([log[0], log[2]]).breaks
    assert breaks and "missing" in breaks[0]["reason"]


async def test_aud2_forged_replacement_is_a_break() -> None:
    log = await _log(InMemoryKeyStore())
    forged = msgspec.structs.replace(log[1], event_id="00000000-0000-0000-0000-000000000001")
    assert any("fork" in b["reason"] for b in verify([*log, forged]).breaks)


async def test_aud1_replay_decrypts_living_subject_and_shows_erased_one_as_erased() -> None:
    keys = InMemoryKeyStore()
    log = await _log(keys)
    key = (await keys.keys_for_reading(["s1"]))["s1"]
    alive = reconstruct(verify(log), {"s1": key}, set(), subject="s1")
    state = alive["services"]["accounts"]["account-s1"]["state"]
    assert state["email"] == "a@example.org"
    assert state["sessions"]["x"]["reason"] == "logout"

    await keys.destroy("s1")
    gone = reconstruct(verify(log), {"s1": None}, {"s1"}, subject="s1")
    state = gone["services"]["accounts"]["account-s1"]["state"]
    assert state["email"] == state["name"] == state["username"] == "erased"
    assert gone["subjects"] == {"s1": {"erased": True}}
    assert b"a@example.org" not in orjson.dumps(gone)


async def test_aud1_replay_until_shows_state_as_of_that_instant() -> None:
    log = await _log(InMemoryKeyStore())
    got = reconstruct(verify(log), {}, set(), until=T0 + timedelta(minutes=90))
    assert got["services"]["accounts"]["account-s1"]["version"] == 2


async def test_aud1_replay_folds_each_aggregate_as_its_service_does() -> None:
    """A session is not part of the account's own fields: it is an entity of the account."""
    keys = InMemoryKeyStore()
    log = await _log(keys)
    key = (await keys.keys_for_reading(["s1"]))["s1"]
    state = reconstruct(verify(log), {"s1": key}, set())[
        "services"]["accounts"]["account-s1"]["state"]
    assert not {"session_id", "reason", "expires_at"} & set(state)
    assert state["account_id"] == "s1" and state["username"] == "ann"
    assert set(state["sessions"]) == {"x", "y"}
    ended = state["sessions"]["y"]
    assert ended["reason"] == "logout" and ended["ended_at"].startswith("2025-03-01T02:00")


async def test_aud1_events_are_selected_by_position_time_and_type() -> None:
    keys = InMemoryKeyStore()
    checked = verify(await _log(keys))
    key = (await keys.keys_for_reading(["s1"]))["s1"]
    every = select(checked, EventQuery())
    assert [e.position for e in every] == [1, 2, 3]
    assert [e.version for e in select(checked, EventQuery(after_position=1))] == [2, 3]
    later = select(checked, EventQuery(since=T0 + timedelta(minutes=90)))
    assert [e.version for e in later] == [3]
    typed = select(checked, EventQuery(event_types=frozenset({"accounts.AccountRegistered"})))
    assert [e.event_type for e in typed] == ["accounts.AccountRegistered"]
    assert select(checked, EventQuery(subject="nobody")) == []
    first = event_record(typed[0], {"s1": key})
    assert first["payload"]["email"] == "a@example.org" and first["position"] == 1
    assert event_record(typed[0], {"s1": None})["payload"]["email"] == "erased"


async def test_aud2_events_cut_from_the_end_are_found_by_the_other_places_head() -> None:
    full = await _log(InMemoryKeyStore())
    store = verify(full)
    assert compare_heads(verify(full), store) == []
    cut_log = compare_heads(verify(full[:2]), store)
    assert len(cut_log) == 1 and cut_log[0]["version"] == 3
    assert "missing from the end of the log" in cut_log[0]["reason"]
    cut_store = compare_heads(verify(full), verify(full[:1]))
    assert cut_store[0]["version"] == 2 and "end of the event store" in cut_store[0]["reason"]
    gone = compare_heads(verify([]), store)
    assert gone[0]["version"] == 1
    forged = msgspec.structs.replace(full[2], hash="00" * 32)
    differs = compare_heads(verify([*full[:2], forged]), store)
    assert "differs" in differs[0]["reason"]


async def test_aud2_events_waiting_in_the_outbox_are_not_cut() -> None:
    full = await _log(InMemoryKeyStore())
    assert compare_heads(verify(full[:1]), verify(full), {full[1].event_id, full[2].event_id}) \
        == []
    assert compare_heads(verify(full[:1]), verify(full), {full[2].event_id}) != []


async def test_sec4_replay_and_events_show_credentials_as_withheld() -> None:
    """An auditor sees states, never credentials: the password hash reads "withheld" in the
    folded state, the history, an event record and a decrypted share (the export's rule);
    an erased subject's reads "erased"."""
    keys = InMemoryKeyStore()
    log = await _log(keys)
    key = (await keys.keys_for_reading(["s1"]))["s1"]
    got = reconstruct(verify(log), {"s1": key}, set())
    stream = got["services"]["accounts"]["account-s1"]
    assert stream["state"]["password_hash"] == "withheld"
    assert stream["events"][0]["payload"]["password_hash"] == "withheld"
    assert stream["state"]["email"] == "a@example.org"
    assert event_record(log[0], {"s1": key})["payload"]["password_hash"] == "withheld"
    assert decrypted(log[0], key)["password_hash"] == "withheld"
    assert b'"h"' not in orjson.dumps(got)
    gone = reconstruct(verify(log), {"s1": None}, {"s1"})
    assert gone["services"]["accounts"]["account-s1"]["state"]["password_hash"] == "erased"
