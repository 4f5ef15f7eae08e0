"""Messaging end to end against the real PostgreSQL and broker (MSG-1…4, SEC-3, SEC-5).

Accounts, listings and messaging run in this process behind the gateway's routes; the
messaging service learns accounts, staff roles and listings from Kafka. The scanner is a
double behind the ``Scanner`` protocol (the engines have their own tests, MSG-2).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from listings_market import eventually
from messaging_market import Messaging, WordScanner, running

from contracts.messaging import (
    DisputeClosed,
    DisputeOpened,
    MessagePosted,
    MessageScanned,
    StaffAccessRecorded,
    SuspiciousActivityNoticed,
)
from contracts.personal import ERASED
from kernel.codec import decode_fields
from kernel.crypto import is_token
from messaging.config import MessagingSettings
from messaging.service_layer import expiry

pytestmark = pytest.mark.e2e

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="module")
async def msg(infra: Any) -> AsyncIterator[Messaging]:
    """Accounts, listings and messaging (with the scanner double) behind the public routes."""
    settings = MessagingSettings(  # type: ignore[call-arg]
        messages_per_minute=10, reports_per_hour=3, same_text_recipients=3,
        new_conversations=4, blocked_domain_repeats=2, expiry_interval_seconds=0.2)
    async with running(infra.kafka_bootstrap, settings, WordScanner()) as market:
        yield market


async def test_msg1_only_participants_read_a_conversation(msg: Messaging) -> None:
    owner, writer, stranger = (await msg.sign_up("employer"), await msg.sign_up(),
                               await msg.sign_up())
    listing_id = await msg.listing(owner)
    cid = await msg.conversation(writer, owner, listing_id)
    assert await msg.conversation(writer, owner, listing_id) == cid  # one per pair and listing
    for text in ("Is the job still open?", "I can start in May.", "Thanks!"):
        assert (await msg.send(writer, cid, text)).status_code == 201
    resp = await msg.send(owner, cid, "Yes, it is.")
    assert resp.status_code == 201 and resp.json()["verdict"] == "delivered"

    page = (await msg.read(owner, cid, limit=2)).json()
    assert [m["body"] for m in page["items"]] == ["Is the job still open?", "I can start in May."]
    rest = (await msg.read(owner, cid, cursor=page["next_cursor"], limit=2)).json()
    assert [m["body"] for m in rest["items"]] == ["Thanks!", "Yes, it is."]
    assert rest["next_cursor"] is None
    assert set(page["items"][0]) >= {"message_id", "sender_id", "verdict", "body", "posted_at"}
    assert not {"email", "phone", "name"} & set(page["items"][0])  # MSG-4: no contact data

    for resp in (await msg.read(stranger, cid),
                 await msg.send(stranger, cid, "let me in"),
                 await msg.client.post(f"/v1/conversations/{cid}/report", headers=stranger.auth,
                                       json={"reason": "spam"})):
        assert resp.status_code == 404, resp.text
        assert "Thanks" not in resp.text
    mine = (await msg.client.get("/v1/conversations", headers=stranger.auth)).json()
    assert mine["items"] == []
    theirs = (await msg.client.get("/v1/conversations", headers=owner.auth)).json()["items"]
    assert [(c["conversation_id"], c["with_account_id"]) for c in theirs] == [
        (cid, writer.account_id)]
    assert (await msg.client.get(f"/v1/conversations/{cid}/messages")).status_code == 401


async def test_msg1_a_conversation_needs_the_listing_owner(msg: Messaging) -> None:
    owner, a, b = await msg.sign_up(), await msg.sign_up(), await msg.sign_up()
    listing_id = await msg.listing(owner)
    resp = await msg.client.post("/v1/conversations", headers=a.auth, json={
        "listing_id": listing_id, "recipient_account_id": b.account_id})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid"
    resp = await msg.client.post("/v1/conversations", headers=a.auth, json={
        "listing_id": "no-such-listing", "recipient_account_id": owner.account_id})
    assert resp.status_code == 404


async def test_msg2_verdicts_are_events_and_quarantine_waits_for_trust_and_safety(
        msg: Messaging) -> None:
    owner, writer, staff = await msg.sign_up(), await msg.sign_up(), await msg.sign_up()
    await msg.grant(staff, "trust_and_safety")
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    held = (await msg.send(writer, cid, "Cheap offer QUARANTINE now")).json()
    assert held["verdict"] == "quarantined"
    eicar = [{"filename": "cv.pdf", "content_base64": base64.b64encode(EICAR).decode()}]
    blocked = (await msg.send(writer, cid, "my cv", eicar)).json()
    assert blocked["verdict"] == "blocked"

    crashed = (await msg.send(writer, cid, "this one makes the engine CRASH")).json()
    assert crashed["verdict"] == "quarantined"  # a failing scanner holds, never lets through

    assert (await msg.read(owner, cid)).json()["items"] == []  # nothing reached the recipient
    own = (await msg.read(writer, cid)).json()["items"]
    assert [(m["verdict"], m["body"]) for m in own] == [
        ("quarantined", "Cheap offer QUARANTINE now"), ("blocked", None),
        ("quarantined", "this one makes the engine CRASH")]

    scanned = await msg.published(MessageScanned.event_type,
                                  lambda p: p["message_id"] == blocked["message_id"],
                                  "the blocked verdict on Kafka")
    assert scanned.payload["outcome"] == "blocked"
    assert scanned.payload["reasons"][0]["code"] == "eicar"
    posted = await msg.published(MessagePosted.event_type,
                                 lambda p: p["message_id"] == blocked["message_id"],
                                 "the blocked message on Kafka")
    assert posted.payload["body"] is None  # a blocked body is kept nowhere

    assert (await msg.client.get("/v1/staff/messages/quarantine", headers=owner.auth,
                                 params={"purpose": "abuse_report"})).status_code == 403
    desk = await msg.client.get("/v1/staff/messages/quarantine", headers=staff.auth,
                                params={"purpose": "abuse_report"})
    assert desk.status_code == 200, desk.text
    item = next(m for m in desk.json()["items"] if m["message_id"] == held["message_id"])
    assert item["body"] == "Cheap offer QUARANTINE now"
    assert item["reasons"][0]["code"] == "spam_score"
    access_id = desk.json()["access_id"]
    access = await msg.published(StaffAccessRecorded.event_type,
                                 lambda p: p["access_id"] == access_id
                                 and p["subject_id"] == writer.account_id,
                                 "the staff access on Kafka")
    assert held["message_id"] in access.payload["item_ids"]
    auditor = await msg.sign_up()
    await msg.grant(auditor, "auditor")
    assert (await msg.client.get("/v1/staff/messaging/access-log",
                                 headers=staff.auth)).status_code == 403
    log = (await msg.client.get("/v1/staff/messaging/access-log", headers=auditor.auth,
                                params={"subject_id": writer.account_id})).json()["items"]
    assert [(e["access_id"], e["staff_account_id"], e["kind"], e["purpose"]) for e in log] == [
        (access_id, staff.account_id, "quarantine", "abuse_report")]
    assert "QUARANTINE" not in str(log)  # ids and codes, never the text

    resp = await msg.client.post(f"/v1/staff/messages/{held['message_id']}/review",
                                 headers=staff.auth, json={"decision": "deliver"})
    assert resp.status_code == 200 and resp.json()["verdict"] == "delivered"
    assert [m["body"] for m in (await msg.read(owner, cid)).json()["items"]] == [
        "Cheap offer QUARANTINE now"]
    again = await msg.client.post(f"/v1/staff/messages/{held['message_id']}/review",
                                  headers=staff.auth, json={"decision": "block"})
    assert again.status_code == 409


async def test_msg3_bodies_expire_everywhere_while_the_conversation_stays(
        msg: Messaging) -> None:
    owner, writer = await msg.sign_up(), await msg.sign_up()
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    text = "Expiring body 7f3a, see you Monday"
    sent = (await msg.send(writer, cid, text)).json()
    ctx = msg.ctx
    row = await ctx.pool.fetchrow("SELECT * FROM messaging.messages WHERE message_id = $1",
                                  sent["message_id"])
    assert is_token(row["body_token"]) and text not in row["body_token"]  # never plaintext
    raw = await ctx.pool.fetchval(
        "SELECT payload FROM messaging.events WHERE stream_id = $1 AND event_type = $2",
        f"message-{sent['message_id']}", MessagePosted.event_type)
    assert text.encode() not in bytes(raw)
    env = await msg.published(MessagePosted.event_type,
                              lambda p: p["message_id"] == sent["message_id"],
                              "the message on Kafka")
    assert text not in env.model_dump_json()
    assert [m["body"] for m in (await msg.read(owner, cid)).json()["items"]] == [text]

    real = ctx.clock
    period = ctx.settings.body_retention_days
    early = real() + timedelta(days=period - 32)  # every body lives a period less a month
    ctx.clock = lambda: early
    try:
        await expiry.expire_bodies(ctx)
    finally:
        ctx.clock = real
    assert [m["body"] for m in (await msg.read(owner, cid)).json()["items"]] == [text]

    later = real() + timedelta(days=period)  # and never longer than the period (RET-1)
    ctx.clock = lambda: later  # the scheduled expiry runs every 0.2 s in this session
    try:
        async def gone() -> bool:
            return await ctx.pool.fetchval(
                "SELECT body_token IS NULL FROM messaging.messages WHERE message_id = $1",
                sent["message_id"]) is True

        await eventually(gone, what="the scheduled expiry of message bodies")
    finally:
        ctx.clock = real

    items = (await msg.read(owner, cid)).json()["items"]
    assert [(m["message_id"], m["body"]) for m in items] == [(sent["message_id"], ERASED)]
    listed = (await msg.client.get("/v1/conversations", headers=owner.auth)).json()["items"]
    assert cid in [c["conversation_id"] for c in listed]
    # No key opens the stored or published body any more (MSG-3): not in PostgreSQL ...
    keys = await ctx.keys.keys_for_reading([writer.account_id])
    stored = orjson.loads(bytes(raw))
    opened = decode_fields(MessagePosted.event_type, 1, dict(stored), env.event_id,
                           keys[writer.account_id])
    assert opened["body"] == ERASED
    # ... nor in Kafka
    published = decode_fields(MessagePosted.event_type, 1, dict(env.payload), env.event_id,
                              keys[writer.account_id])
    assert published["body"] == ERASED
    assert await expiry.expire_bodies(ctx) == 0  # with the real clock nothing else is due


async def test_msg4_a_burst_past_the_senders_limit_answers_429(msg: Messaging) -> None:
    owner, writer = await msg.sign_up(), await msg.sign_up()
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    answers = [await msg.send(writer, cid, f"message {i}") for i in range(12)]
    assert [r.status_code for r in answers[:10]] == [201] * 10  # >= 10 a minute allowed
    for late in answers[10:]:
        assert late.status_code == 429
        assert late.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(late.headers["Retry-After"]) <= 60
    bodies = [m["body"] for m in (await msg.read(owner, cid, limit=100)).json()["items"]]
    assert bodies == [f"message {i}" for i in range(10)]
    # the other participant's own limit is untouched
    assert (await msg.send(owner, cid, "reply")).status_code == 201


async def test_msg4_a_participant_reports_a_conversation(msg: Messaging) -> None:
    owner, writer, staff = await msg.sign_up(), await msg.sign_up(), await msg.sign_up()
    await msg.grant(staff, "trust_and_safety")
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    resp = await msg.client.post(f"/v1/conversations/{cid}/report", headers=owner.auth,
                                 json={"reason": "scam", "note": "asked for my IBAN"})
    assert resp.status_code == 201, resp.text
    report_id = resp.json()["report_id"]
    bad = await msg.client.post(f"/v1/conversations/{cid}/report", headers=owner.auth,
                                json={"reason": "nonsense-reason"})
    assert bad.status_code == 422 and "nonsense-reason" not in bad.text
    listed = (await msg.client.get("/v1/staff/reports", headers=staff.auth,
                                   params={"purpose": "abuse_report"})).json()["items"]
    mine = next(r for r in listed if r["report_id"] == report_id)
    assert (mine["kind"], mine["reason"], mine["text"], mine["reported_id"]) == (
        "abuse", "scam", "asked for my IBAN", writer.account_id)


async def test_sec3_one_text_to_many_raises_a_notice_by_username(msg: Messaging) -> None:
    sender = await msg.sign_up()
    text = "Earn 500 euro a day from home, reply now"
    for _ in range(3):
        owner = await msg.sign_up()
        cid = await msg.conversation(sender, owner, await msg.listing(owner))
        # the same text, spaced and cased differently, counts as the same
        assert (await msg.send(sender, cid, text.upper() + "  ")).status_code == 201
    notice = await msg.published(SuspiciousActivityNoticed.event_type,
                                 lambda p: p["account_id"] == sender.account_id,
                                 "the suspicious-activity notice")
    assert notice.payload["signal"] == "same_text_to_many"
    assert notice.payload["count"] == 3
    keys = await msg.ctx.keys.keys_for_reading([sender.account_id])
    payload = decode_fields(notice.event_type, 1, dict(notice.payload), notice.event_id,
                            keys[sender.account_id])
    assert payload["username"] == sender.body["username"]
    assert sender.body["name"] not in notice.model_dump_json()
    hashes = await msg.ctx.pool.fetch(
        "SELECT digest FROM messaging.text_hashes WHERE sender_id = $1", sender.account_id)
    assert len(hashes) == 3 and all(text.encode() not in bytes(h["digest"]) for h in hashes)
    real = msg.ctx.clock
    later = real() + timedelta(hours=1, seconds=1)
    msg.ctx.clock = lambda: later
    try:
        async def pruned() -> bool:  # the scheduled housekeeping forgets them after the window
            return not await msg.ctx.pool.fetchval(
                "SELECT count(*) FROM messaging.text_hashes WHERE sender_id = $1",
                sender.account_id)

        await eventually(pruned, what="the counted texts to be forgotten")
    finally:
        msg.ctx.clock = real


async def test_sec3_a_blocked_domain_repeated_and_many_new_conversations(
        msg: Messaging) -> None:
    sender = await msg.sign_up()
    owners = [await msg.sign_up() for _ in range(4)]
    cids = [await msg.conversation(sender, o, await msg.listing(o)) for o in owners]
    for cid in cids[:2]:
        resp = await msg.send(sender, cid, "log in at phish:rab0bank-login.nl")
        assert resp.json()["verdict"] == "blocked"
    signals = {}
    for signal in ("blocked_domain_repeated", "many_new_conversations"):
        env = await msg.published(
            SuspiciousActivityNoticed.event_type,
            lambda p, s=signal: p["account_id"] == sender.account_id and p["signal"] == s,
            f"the {signal} notice")
        signals[signal] = env.payload
    assert signals["blocked_domain_repeated"]["indicator"] == "rab0bank-login.nl"
    assert signals["many_new_conversations"]["count"] == 4
    staff = await msg.sign_up()
    assert (await msg.client.get("/v1/staff/notices", headers=staff.auth, params={
        "purpose": "fraud_investigation"})).status_code == 403
    await msg.grant(staff, "trust_and_safety")
    desk = (await msg.client.get("/v1/staff/notices", headers=staff.auth, params={
        "purpose": "fraud_investigation"})).json()
    mine = {n["signal"]: n for n in desk["items"] if n["account_id"] == sender.account_id}
    assert set(mine) == {"blocked_domain_repeated", "many_new_conversations"}
    assert {n["username"] for n in mine.values()} == {sender.body["username"]}
    assert sender.body["name"] not in str(desk)
    await msg.published(StaffAccessRecorded.event_type,
                        lambda p: p["access_id"] == desk["access_id"] and p["kind"] == "notices"
                        and p["subject_id"] == sender.account_id, "the notices read recorded")


async def test_sec3_disputes_register_linked_to_accounts(msg: Messaging) -> None:
    member, staff = await msg.sign_up(), await msg.sign_up()
    resp = await msg.client.post("/v1/staff/disputes", headers=member.auth, json={
        "account_id": member.account_id, "source": "police"})
    assert resp.status_code == 403
    await msg.grant(staff, "trust_and_safety")
    resp = await msg.client.post("/v1/staff/disputes", headers=staff.auth, json={
        "account_id": member.account_id, "source": "police", "reference": "PFD-2026-114",
        "summary": "advance-fee fraud via a fake vacancy"})
    assert resp.status_code == 201, resp.text
    dispute_id = resp.json()["dispute_id"]
    opened = await msg.published(DisputeOpened.event_type,
                                 lambda p: p["dispute_id"] == dispute_id, "DisputeOpened")
    assert opened.subject_id == member.account_id == opened.payload["account_id"]
    register = (await msg.client.get("/v1/staff/disputes", headers=staff.auth, params={
        "purpose": "fraud_investigation", "account_id": member.account_id})).json()["items"]
    assert [(d["dispute_id"], d["status"], d["summary"]) for d in register] == [
        (dispute_id, "open", "advance-fee fraud via a fake vacancy")]
    resp = await msg.client.post(f"/v1/staff/disputes/{dispute_id}/close", headers=staff.auth,
                                 json={"resolution": "upheld"})
    assert resp.status_code == 200
    closed = await msg.published(DisputeClosed.event_type,
                                 lambda p: p["dispute_id"] == dispute_id, "DisputeClosed")
    assert closed.payload["account_id"] == member.account_id
    assert (await msg.client.post(f"/v1/staff/disputes/{dispute_id}/close", headers=staff.auth,
                                  json={"resolution": "upheld"})).status_code == 409


async def test_sec5_reports_without_a_token_are_rate_limited_and_reviewable(
        msg: Messaging) -> None:
    await msg.ctx.pool.execute("DELETE FROM messaging.intake_log")
    texts = [f"XSS in the search page, variant {i}" for i in range(4)]
    answers = [await msg.client.post("/v1/reports", json={
        "kind": "vulnerability", "text": t, "contact": "finder@example.org"}) for t in texts]
    assert [r.status_code for r in answers] == [201, 201, 201, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
    ops = await msg.sign_up()
    await msg.grant(ops, "ops")
    listed = (await msg.client.get("/v1/staff/reports", headers=ops.auth, params={
        "purpose": "security_incident"})).json()["items"]
    by_id = {r["report_id"]: r for r in listed}
    first = by_id[answers[0].json()["report_id"]]
    assert (first["kind"], first["text"], first["contact"], first["reporter_id"]) == (
        "vulnerability", texts[0], "finder@example.org", None)
    resp = await msg.client.post(f"/v1/staff/reports/{first['report_id']}/review",
                                 headers=ops.auth, json={"status": "triaged"})
    assert resp.status_code == 200
    member = await msg.sign_up()
    assert (await msg.client.get("/v1/staff/reports", headers=member.auth, params={
        "purpose": "security_incident"})).status_code == 403


async def test_erased_members_messages_read_as_erased_for_the_other(msg: Messaging) -> None:
    owner, writer = await msg.sign_up(), await msg.sign_up()
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    await msg.send(writer, cid, "A message from someone about to leave")
    await msg.send(owner, cid, "A reply that stays")
    await msg.erase(writer.account_id)
    items = (await msg.read(owner, cid)).json()["items"]
    assert [(m["sender_id"], m["body"]) for m in items] == [
        (writer.account_id, ERASED), (owner.account_id, "A reply that stays")]
    listed = (await msg.client.get("/v1/conversations", headers=owner.auth)).json()["items"]
    assert cid in [c["conversation_id"] for c in listed]
    # the eraser dropped the member from the directory: nobody writes to them any more
    resp = await msg.send(owner, cid, "Are you still there?")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "conflict"
    pool: asyncpg.Pool = msg.ctx.pool
    assert not await pool.fetchval(
        "SELECT count(*) FROM messaging.messages WHERE sender_id = $1 "
        "AND body_token IS NOT NULL", writer.account_id)


async def test_bad_input_answers_422_naming_the_field_never_the_value(msg: Messaging) -> None:
    owner, writer = await msg.sign_up(), await msg.sign_up()
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    secret = "s3cret-value-never-echoed"
    for payload in ({"body": ""}, {"body": "x" * 5001}, {"body": "hi", "extra": secret},
                    {"body": "hi", "attachments": [{"filename": "a.txt",
                                                     "content_base64": secret + "!!"}]}):
        resp = await msg.client.post(f"/v1/conversations/{cid}/messages", headers=writer.auth,
                                     json=payload)
        assert resp.status_code == 422, (payload, resp.text)
        assert secret not in resp.text and "x" * 50 not in resp.text
        assert resp.json()["error"]["code"]
    resp = await msg.client.post("/v1/reports", json={"kind": "complaint", "text": secret})
    assert resp.status_code == 422 and secret not in resp.text
    resp = await msg.client.post("/v1/conversations", headers=writer.auth, json={
        "listing_id": "bad id with spaces", "recipient_account_id": owner.account_id})
    assert resp.status_code == 422 and "bad id" not in resp.text


async def test_msg4_a_concurrent_burst_lets_exactly_the_limit_through(msg: Messaging) -> None:
    owner, writer = await msg.sign_up(), await msg.sign_up()
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    answers = await asyncio.gather(*(msg.send(writer, cid, f"burst {i}") for i in range(16)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 10 + [429] * 6
    delivered = (await msg.read(owner, cid, limit=100)).json()["items"]
    assert len(delivered) == 10


async def test_msg1_conversations_list_newest_first_in_pages(msg: Messaging) -> None:
    owner = await msg.sign_up()
    listing_id = await msg.listing(owner)
    writers = [await msg.sign_up() for _ in range(3)]
    cids = [await msg.conversation(w, owner, listing_id) for w in writers]
    page = (await msg.client.get("/v1/conversations", headers=owner.auth,
                                 params={"limit": 2})).json()
    rest = (await msg.client.get("/v1/conversations", headers=owner.auth,
                                 params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [c["conversation_id"] for c in page["items"] + rest["items"]] == cids[::-1]
    assert rest["next_cursor"] is None
    # MSG-4: the listings of conversations and messages hand out no one's contact data
    seen = str(page) + str(rest) + str([(await msg.read(owner, c)).json() for c in cids])
    for w in writers:
        assert w.body["email"] not in seen and w.body["name"] not in seen
        assert w.body.get("phone", "+31612345678") not in seen


async def test_msg1_both_sides_starting_at_once_get_one_conversation(msg: Messaging) -> None:
    owner, writer = await msg.sign_up(), await msg.sign_up()
    listing_id = await msg.listing(owner)
    answers = await asyncio.gather(*(
        msg.client.post("/v1/conversations", headers=m.auth, json={
            "listing_id": listing_id, "recipient_account_id": other.account_id})
        for m, other in [(writer, owner), (owner, writer)] * 3))
    assert {r.status_code for r in answers} <= {201, 409}
    ids = {r.json()["conversation_id"] for r in answers if r.status_code == 201}
    assert len(ids) == 1
    assert await msg.conversation(writer, owner, listing_id) in ids
