"""An export takes parts only for its own subject, from the service that gave them (issue 26).

A part naming another subject (an export order forged for a victim, answered by a service
that believed it) would put the victim's data into the requester's export; a part one
service gives in another's name would pass one service's data off as another's. Both are
refused; the request's own part from its own service is kept.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from retention.domain.requests import PrivacyRequest
from retention.service_layer import exports

from .conftest import Running

pytestmark = pytest.mark.integration


async def test_an_export_keeps_only_its_own_subjects_parts(retention: Running) -> None:
    rt = retention.host.runtime
    assert rt is not None
    requester, victim = str(uuid.uuid4()), str(uuid.uuid4())
    rid, now = str(uuid.uuid4()), datetime.now(UTC)
    repo = rt.extra["requests"]
    async with rt.pool.acquire() as conn:
        async with conn.transaction():
            await repo.save(conn, PrivacyRequest.receive(
                rid, requester, "access", "app", True, now, ("accounts", "listings")))

        def part(subject: str, service: str, producer: str) -> exports.Part:
            return exports.Part(rid, subject, service, uuid.uuid4(), "sealed", now, producer)

        async def kept() -> list[tuple[str, str]]:
            rows = await conn.fetch("SELECT service, subject_id FROM retention.export_parts "
                                    "WHERE request_id = $1 ORDER BY service", rid)
            return [(r["service"], r["subject_id"]) for r in rows]

        await exports.record_parts(conn, repo, [
            part(victim, "accounts", "accounts"),  # another member's data
            part(requester, "listings", "accounts"),  # accounts speaking for listings
        ], now, timedelta(days=1))
        # (with the platform running, accounts may answer the request's real export order
        # for the requester meanwhile: only the forged parts must be absent)
        assert ("accounts", victim) not in await kept()
        assert ("listings", requester) not in await kept()
        req = await repo.get(conn, rid)
        assert req is not None and req.awaits_part("listings")
        if ("accounts", requester) not in await kept():
            assert req.awaits_part("accounts")  # the forged part did not count

        await exports.record_parts(conn, repo, [part(requester, "accounts", "accounts")],
                                   now, timedelta(days=1))
        assert ("accounts", requester) in await kept()
        assert ("accounts", victim) not in await kept()
