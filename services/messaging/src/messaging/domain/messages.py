"""What a scanned message records (MSG-2, MSG-3): its verdict, and the body only if kept."""

from __future__ import annotations

from contracts.messaging import MessagePosted, MessageScanned, ScanReason
from messaging.scanning.api import Verdict


def reasons(verdict: Verdict) -> list[ScanReason]:
    """The detectors' reasons as the contract carries them: codes, scores, indicators."""
    return [ScanReason(detector=r.detector, code=r.code, score=r.score,
                       indicators=list(r.indicators)) for r in verdict.reasons]


def record(message_id: str, conversation_id: str, sender: str, recipient: str, body: str,
           attachments: int, verdict: Verdict) -> tuple[MessageScanned, MessagePosted]:
    """The verdict event and the message; a blocked message keeps no body anywhere."""
    scanned = MessageScanned(message_id=message_id, conversation_id=conversation_id,
                             sender_id=sender, outcome=verdict.outcome, reasons=reasons(verdict))
    posted = MessagePosted(message_id=message_id, conversation_id=conversation_id,
                           sender_id=sender, recipient_id=recipient,
                           body=None if verdict.outcome == "blocked" else body,
                           attachments=attachments, outcome=verdict.outcome)
    return scanned, posted
