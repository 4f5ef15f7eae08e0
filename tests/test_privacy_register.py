"""The data register (RET-1): every category a contract carries is in it; DPOs read it.

Unit tests check the register against every registered event type of ``contracts`` and its
own validation; the e2e test reads it through the gateway as a member, a DPO and an auditor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from members import Member, sign_up
from pydantic import Field
from stack import Platform, eventually

from contracts.envelope import Event
from contracts.personal import DataCategory, Personal, personal_fields
from retention.adapters.register import load_register, register_text
from retention.bootstrap import load_contracts
from retention.domain.register import DataRegister, InvalidRegister


def contract_categories(events: list[type[Event]]) -> dict[str, set[str]]:
    """Each data category a contract field carries, with the fields carrying it."""
    found: dict[str, set[str]] = {}
    for cls in events:
        for name, personal in personal_fields(cls).items():
            found.setdefault(personal.category.value, set()).add(f"{cls.event_type}.{name}")
    return found


def unregistered(register: DataRegister, events: list[type[Event]]) -> dict[str, set[str]]:
    """Categories carried by contract fields that the register lacks, with their fields."""
    used = contract_categories(events)
    return {c: used[c] for c in register.missing(set(used))}


def all_events() -> list[type[Event]]:
    load_contracts()
    return list(Event.registry.values())


@pytest.mark.unit
def test_ret1_every_category_a_contract_field_carries_is_in_the_register() -> None:
    events = all_events()
    assert len(contract_categories(events)) >= 5  # the walk found the contracts' fields
    assert unregistered(load_register(), events) == {}


@pytest.mark.unit
def test_ret1_every_data_category_of_the_contracts_is_in_the_register() -> None:
    register = load_register()
    assert register.missing({c.value for c in DataCategory}) == set()


@pytest.mark.unit
def test_ret1_a_field_with_a_category_the_register_lacks_is_caught() -> None:
    class _Tracked(Event):
        event_type: ClassVar[str] = "test.RegisterProbe"
        producer: ClassVar[str] = "test"
        where: Annotated[str, Personal(DataCategory.CALL_TRACKING)] = Field(description="x")

    raw = tomllib.loads(register_text())
    del raw["categories"]["call_tracking"]
    try:
        lacking = unregistered(DataRegister.from_mapping(raw), [_Tracked])
    finally:
        Event.registry.pop(("test.RegisterProbe", 1), None)
    assert lacking == {"call_tracking": {"test.RegisterProbe.where"}}


@pytest.mark.unit
def test_ret1_register_says_purposes_basis_period_sensitivity_and_end_of_life() -> None:
    register = load_register()
    assert register.version and register.effective_from
    for entry in register.entries.values():
        assert entry.purposes and entry.retention_days > 0
        assert entry.legal_basis in ("consent", "contract", "legitimate_interest",
                                     "legal_obligation")
        assert entry.end_of_life in ("erase", "pseudonymise")
    # RET-3: sensitive categories are kept shorter than the longest ordinary period.
    high = [e.retention_days for e in register.entries.values() if e.sensitivity == "high"
            and e.legal_basis != "legal_obligation"]
    normal = [e.retention_days for e in register.entries.values() if e.sensitivity == "normal"]
    assert high and max(high) < max(normal)
    assert register.entry("messages").retention_days == 90  # messaging's MSG-3 default


@pytest.mark.unit
@pytest.mark.parametrize(("change", "named"), [
    (lambda c: c.pop("legal_basis"), "missing ['legal_basis']"),
    (lambda c: c.update(legal_basis="because"), "legal_basis must be one of"),
    (lambda c: c.update(end_of_life="shred"), "end_of_life must be one of"),
    (lambda c: c.update(retention_days=0), "retention_days must be a positive integer"),
    (lambda c: c.update(purposes=[]), "purposes must be a non-empty list"),
    (lambda c: c.update(max_with_consent_days=1), "max_with_consent_days must exceed"),
    (lambda c: c.update(colour="blue"), "unknown ['colour']"),
])
def test_ret1_a_malformed_register_is_refused_naming_the_entry(change: Any, named: str) -> None:
    raw = tomllib.loads(register_text())
    change(raw["categories"]["contact"])
    with pytest.raises(InvalidRegister, match="category contact") as err:
        DataRegister.from_mapping(raw)
    assert named in str(err.value)


@pytest.mark.unit
def test_ret1_a_register_without_version_is_refused() -> None:
    raw = tomllib.loads(register_text())
    del raw["version"]
    with pytest.raises(InvalidRegister, match="version"):
        DataRegister.from_mapping(raw)


def grant(platform: Platform, member: Member, role: str) -> None:
    """Grant a staff role from the accounts service's command line."""
    done = subprocess.run(  # noqa: S603 - our own console module, fixed arguments
        [sys.executable, "-m", "accounts", "grant-role", "--email", member.email,
         "--role", role],
        env={**os.environ, **platform.env}, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.e2e
def test_ret1_register_is_readable_over_the_api_by_dpos_and_auditors_only(
    client: httpx.Client, platform: Platform,
) -> None:
    member, dpo, auditor = sign_up(client, "m"), sign_up(client, "dpo"), sign_up(client, "aud")
    assert client.get("/v1/data-register").status_code == 401
    refused = client.get("/v1/data-register", headers=member.auth)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    grant(platform, dpo, "dpo")
    grant(platform, auditor, "auditor")
    shipped = load_register()
    for staff in (dpo, auditor):
        def readable(staff: Member = staff) -> dict[str, Any]:
            resp = client.get("/v1/data-register", headers=staff.auth)
            assert resp.status_code == 200, resp.text
            body: dict[str, Any] = resp.json()
            return body

        body = eventually(readable, timeout=45)
        assert body["version"] == shipped.version
        got = {c["category"]: c for c in body["categories"]}
        assert set(got) == {c.value for c in DataCategory}
        assert got["messages"]["retention_days"] == 90
        assert got["usage"]["end_of_life"] == "pseudonymise"
        assert got["identity"]["legal_basis"] == "contract"
