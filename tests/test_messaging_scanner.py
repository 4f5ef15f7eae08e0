"""End to end: the real scanner engines behind the messaging service (MSG-2).

Every service runs as its own process (``platform``), so the messaging service scans with
``messaging.scanning.default_scanner()`` as in production, not a test double: EICAR as an
attachment is never delivered, a link to a lookalike of a bank is held or blocked, and a
normal job conversation is delivered.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from members import sign_up
from stack import eventually

from messaging.scanning.evaluation import eicar

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def conversation(client: httpx.Client) -> tuple[Any, Any, str]:
    """A member's ad and a conversation another member opened about it."""
    owner, writer = sign_up(client, "owner"), sign_up(client, "writer")
    resp = client.post("/v1/listings", headers=owner.auth, json={
        "kind": "ad", "title": "Schilder beschikbaar", "description": "Binnen- en buitenwerk",
        "location": {"city": "Utrecht"}})
    assert resp.status_code == 201, resp.text
    listing_id = resp.json()["listing_id"]

    def opened() -> str:
        r = client.post("/v1/conversations", headers=writer.auth, json={
            "listing_id": listing_id, "recipient_account_id": owner.account_id})
        assert r.status_code == 201, r.text  # until messaging learned account and listing
        cid: str = r.json()["conversation_id"]
        return cid

    return owner, writer, eventually(opened, timeout=60, interval=0.5)


def _send(client: httpx.Client, sender: Any, cid: str, body: str,
          attachments: list[dict[str, str]] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"body": body}
    if attachments:
        payload["attachments"] = attachments
    resp = client.post(f"/v1/conversations/{cid}/messages", headers=sender.auth, json=payload)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_msg2_real_scanner_blocks_eicar_holds_lookalikes_delivers_work_talk(
        client: httpx.Client, conversation: tuple[Any, Any, str]) -> None:
    owner, writer, cid = conversation
    normal = _send(client, writer, cid, "Hoi, ik zag je advertentie. Kun je volgende week "
                   "dinsdag de kozijnen in Utrecht schilderen? Wat is je uurtarief?")
    assert normal["verdict"] == "delivered"

    attachment = [{"filename": "cv.pdf", "content_base64": base64.b64encode(eicar()).decode()}]
    virus = _send(client, writer, cid, "Hierbij mijn cv.", attachment)
    assert virus["verdict"] == "blocked"

    phish = _send(client, writer, cid, "Ik betaal je vooruit, bevestig je rekening even "
                  "via https://rab0bank-betaling.nl/bevestigen")
    assert phish["verdict"] in ("quarantined", "blocked")

    items = client.get(f"/v1/conversations/{cid}/messages", headers=owner.auth)
    assert items.status_code == 200, items.text
    delivered = [m["message_id"] for m in items.json()["items"]]
    assert delivered == [normal["message_id"]]  # neither the virus nor the phish arrived
