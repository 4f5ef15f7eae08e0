"""A released suspected scam carries a warning for its recipient (issue 28, MSG-2).

Against the real PostgreSQL and broker: the messaging service behind the gateway with the
scanner double (``SCAM`` in a body is held with a scam rule code).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from messaging_market import Messaging, WordScanner, running

from messaging.config import MessagingSettings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def msg(infra: Any) -> AsyncIterator[Messaging]:
    """Accounts, listings and messaging (with the scanner double) behind the public routes."""
    settings = MessagingSettings()  # type: ignore[call-arg]
    async with running(infra.kafka_bootstrap, settings, WordScanner()) as market:
        yield market


async def test_issue28_recipient_of_a_released_scam_sees_a_warning(msg: Messaging) -> None:
    owner, writer, staff = await msg.sign_up(), await msg.sign_up(), await msg.sign_up()
    await msg.grant(staff, "trust_and_safety")
    cid = await msg.conversation(writer, owner, await msg.listing(owner))
    scam = (await msg.send(writer, cid, "Easy money SCAM: receive transfers for me")).json()
    spam = (await msg.send(writer, cid, "Cheap offer QUARANTINE now")).json()
    plain = (await msg.send(writer, cid, "Is the job still open?")).json()
    assert (scam["verdict"], spam["verdict"]) == ("quarantined", "quarantined")
    for held in (scam, spam):
        resp = await msg.client.post(f"/v1/staff/messages/{held['message_id']}/review",
                                     headers=staff.auth, json={"decision": "deliver"})
        assert resp.status_code == 200, resp.text

    seen = {m["message_id"]: m for m in (await msg.read(owner, cid)).json()["items"]}
    assert seen[scam["message_id"]]["warning"] == "suspected_scam"
    assert "warning" not in seen[spam["message_id"]]  # held for spam, not as a scam
    assert "warning" not in seen[plain["message_id"]]
    assert "money_mule" not in str(seen)  # the fact, never the rule
    own = {m["message_id"]: m for m in (await msg.read(writer, cid)).json()["items"]}
    assert "warning" not in own[scam["message_id"]]  # the sender is not told
