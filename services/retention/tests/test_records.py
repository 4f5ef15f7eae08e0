"""AUD-3: the records of processing (GDPR art. 30) from the data register and the log."""

from __future__ import annotations

import tomllib
from typing import Any

import orjson
import pytest

from contracts.accounts import AccountRegistered, SessionStarted
from retention.adapters.register import load_records_basis, register_text
from retention.bootstrap import load_contracts
from retention.domain.records import RecordsBasis
from retention.domain.register import DataRegister, InvalidRegister
from retention.service_layer.records import build_records, declared_categories
from retention.service_layer.replay import LogEvent

pytestmark = pytest.mark.unit


def _raw() -> dict[str, Any]:
    return tomllib.loads(register_text())


def _event(event_type: str, payload: dict[str, Any], subject: str, at: str,
           producer: str = "accounts") -> LogEvent:
    return LogEvent(producer, f"s-{subject}", 1, f"e-{subject}-{at}", event_type, 1, subject,
                    at, payload, "0" * 64, "1" * 64)


def test_aud3_the_shipped_register_holds_everything_the_records_need() -> None:
    register, basis = load_records_basis()
    assert basis.controller["name"].startswith("Payper B.V.")
    assert {r.kind for r in basis.recipients} == {
        "group_company", "employer", "law_enforcement", "processor", "third_party"}
    for r in basis.recipients:  # SHR-4: outside the EEA only on a lawful basis
        assert not r.outside_eea or r.transfer_basis in ("adequacy", "scc"), r
    assert all(not register.missing(set(r.categories)) for r in basis.recipients)
    assert basis.security_measures


def test_aud3_a_transfer_outside_the_eea_without_a_basis_is_refused() -> None:
    raw = _raw()
    raw["recipients"]["call_tracking"]["transfer_basis"] = "eea"  # GB is not in the EEA
    register = DataRegister.from_mapping(raw)
    with pytest.raises(InvalidRegister, match="GB is outside the EEA"):
        RecordsBasis.from_mapping(raw, register)
    raw = _raw()
    raw["recipients"]["employers"]["categories"].append("horoscopes")
    with pytest.raises(InvalidRegister, match="horoscopes"):
        RecordsBasis.from_mapping(raw, DataRegister.from_mapping(raw))
    raw = _raw()
    del raw["controller"]["address"]
    with pytest.raises(InvalidRegister, match="controller"):
        RecordsBasis.from_mapping(raw, DataRegister.from_mapping(raw))


def test_aud3_records_count_each_category_the_log_holds_and_name_no_subject() -> None:
    load_contracts()
    register, basis = load_records_basis()
    reg = AccountRegistered.event_type
    events = [
        _event(reg, {"account_id": "a1", "email": "enc:v1:x", "name": "enc:v1:y",
                     "username": "enc:v1:z", "phone": None}, "a1", "2026-12-01T10:00:00+00:00"),
        _event(reg, {"account_id": "a2", "email": "enc:v1:x", "name": "enc:v1:y",
                     "username": "enc:v1:z"}, "a2", "2026-12-02T10:00:00+00:00"),
        _event(SessionStarted.event_type, {"session_id": "s", "account_id": "a1"}, "a1",
               "2026-12-03T10:00:00+00:00"),
        _event("unknown.Thing", {"x": 1}, "a3", "2026-12-03T11:00:00+00:00", "elsewhere"),
    ]
    doc = build_records(register, basis, events, {"source": "kafka", "events": 4,
                                                  "breaks": 0})
    rows = {p["category"]: p for p in doc["processing"]}
    assert set(rows) == set(register.entries)  # every category, used or not
    contact = rows["contact"]["in_the_log"]
    assert contact["events"] == 2 and contact["subjects"] == 2
    assert contact["processed_by"] == ["accounts"]
    assert contact["first"] == "2026-12-01T10:00:00+00:00"
    assert contact["last"] == "2026-12-02T10:00:00+00:00"
    assert reg in rows["contact"]["declared_in"]
    assert rows["disputes"]["in_the_log"]["events"] == 0
    assert rows["call_tracking"]["transfers_outside_eea"] == [
        {"recipient": "call_tracking", "countries": ["GB"], "basis": "adequacy"}]
    assert "employers" in rows["applications"]["recipients"]
    text = orjson.dumps(doc).decode()
    assert "a1" not in text and "a2" not in text  # counts only, never a subject id


def test_aud3_every_category_a_contract_carries_is_declared() -> None:
    load_contracts()
    register, _ = load_records_basis()
    declared = declared_categories()
    assert not register.missing(set(declared))
    assert {"identity", "contact", "messages", "consent_records"} <= set(declared)
