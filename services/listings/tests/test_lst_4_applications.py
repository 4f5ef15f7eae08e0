"""Applications share exactly the chosen fields, with the owner only, and leave a disclosure
record (LST-4, SHR-1, SHR-2)."""

from __future__ import annotations

import pytest
from listings_market import Market

pytestmark = pytest.mark.integration


async def test_lst_4_an_application_shows_only_the_shared_fields_and_only_to_the_owner(
    market: Market,
) -> None:
    employer, applicant, other = (await market.sign_up("employer"), await market.sign_up(),
                                  await market.sign_up())
    vacancy = await market.post(employer, title="Bakker gezocht")
    c = market.client
    resp = await c.post(f"/v1/listings/{vacancy}/applications", headers=applicant.auth,
                        json={"message": "Ik bak graag.", "share": ["name", "email"]})
    assert resp.status_code == 201, resp.text
    application_id = resp.json()["application_id"]

    resp = await c.get(f"/v1/listings/{vacancy}/applications", headers=employer.auth)
    assert resp.status_code == 200
    [item] = resp.json()["items"]
    assert item["application_id"] == application_id
    assert item["message"] == "Ik bak graag."
    assert item["applicant"] == {"name": applicant.body["name"],
                                 "email": applicant.body["email"]}
    assert applicant.body["phone"] not in resp.text
    assert applicant.body["username"] not in resp.text

    assert (await c.get(f"/v1/listings/{vacancy}/applications",
                        headers=other.auth)).status_code == 404
    assert (await c.get(f"/v1/listings/{vacancy}/applications",
                        headers=applicant.auth)).status_code == 404
    again = await c.post(f"/v1/listings/{vacancy}/applications", headers=applicant.auth,
                         json={"share": ["name"]})
    assert again.status_code == 409


async def test_shr_1_each_application_writes_a_disclosure_record_the_applicant_sees(
    market: Market,
) -> None:
    employer, applicant = await market.sign_up("employer"), await market.sign_up()
    vacancy = await market.post(employer)
    resp = await market.client.post(f"/v1/listings/{vacancy}/applications",
                                    headers=applicant.auth, json={"share": ["phone"]})
    application_id = resp.json()["application_id"]
    [record] = (await market.client.get("/v1/me/disclosures",
                                        headers=applicant.auth)).json()["items"]
    assert record["recipient_id"] == employer.account_id
    assert record["recipient_type"] == "employer"
    assert record["purpose"] == "job_application"
    assert record["categories"] == ["phone"]
    assert record["legal_basis"] == "consent"
    assert record["reference"] == application_id
    assert (await market.client.get("/v1/me/disclosures",
                                    headers=employer.auth)).json()["items"] == []


async def test_shr_2_the_owner_keeps_no_plaintext_copy_and_erasure_empties_the_view(
    market: Market,
) -> None:
    employer, applicant = await market.sign_up("employer"), await market.sign_up()
    vacancy = await market.post(employer)
    await market.client.post(f"/v1/listings/{vacancy}/applications", headers=applicant.auth,
                             json={"message": "Plainmessagecheck", "share": ["email"]})
    rt = market.listings.runtime
    assert rt is not None
    email = applicant.body["email"]
    for table, column in (("applications", "body"), ("events", "payload::text")):
        assert not await rt.pool.fetchval(
            f"SELECT count(*) FROM listings.{table} WHERE {column} LIKE '%' || $1 || '%' "
            f"OR {column} LIKE '%Plainmessagecheck%'", email)
    await market.erase(applicant.account_id)
    resp = await market.client.get(f"/v1/listings/{vacancy}/applications", headers=employer.auth)
    assert resp.json()["items"] == []
    assert await rt.pool.fetchval(
        "SELECT count(*) FROM listings.disclosures WHERE subject_id = $1",
        applicant.account_id) == 0


async def test_shr_2_sharing_a_field_the_member_lacks_or_an_unknown_field_is_refused(
    market: Market,
) -> None:
    employer, applicant = await market.sign_up("employer"), await market.sign_up(phone=None)
    vacancy = await market.post(employer)
    c = market.client
    for share in (["phone"], ["password"]):
        resp = await c.post(f"/v1/listings/{vacancy}/applications", headers=applicant.auth,
                            json={"share": share})
        assert resp.status_code == 422, resp.text
    assert (await c.get("/v1/me/disclosures", headers=applicant.auth)).json()["items"] == []
