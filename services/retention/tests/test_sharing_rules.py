"""SHR-2: a recipient receives, purpose by purpose, only the categories that purpose needs
(the register's ``[recipients.*.per_purpose]``); a register naming more is refused at load."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from retention.adapters.register import load_records_basis, register_text
from retention.domain.records import RecordsBasis
from retention.domain.register import DataRegister, InvalidRegister
from retention.domain.sharing import Disclosure, DisclosureRefused, check

pytestmark = pytest.mark.unit


def _refused(basis: RecordsBasis, asked: Disclosure) -> str:
    with pytest.raises(DisclosureRefused) as refused:
        check(basis, asked)
    return refused.value.code


def test_shr2_each_purpose_allows_only_its_own_categories() -> None:
    _, basis = load_records_basis()
    fraud = Disclosure("s", "group_companies", "fraud_prevention", ("identity", "security_logs"),
                       "legitimate_interest")
    assert check(basis, fraud).code == "group_companies"
    # usage is the group's for personalisation, never for fraud prevention
    assert _refused(basis, Disclosure("s", "group_companies", "fraud_prevention",
                                      ("identity", "usage"), "legitimate_interest")
                    ) == "not_minimal"
    assert check(basis, Disclosure("s", "group_companies", "onsite_personalisation",
                                   ("usage",), "legitimate_interest"))
    # a civil claim gets no security logs, a legal obligation may
    claim = Disclosure("s", "law_enforcement", "legal_claims", ("security_logs",),
                       "legal_obligation", "Rechtbank Zeeland-West-Brabant", "C/02/123456")
    assert _refused(basis, claim) == "not_minimal"
    order = Disclosure("s", "law_enforcement", "legal_obligation", ("security_logs",),
                       "legal_obligation", "Politie", "PL2000-1")
    assert check(basis, order).code == "law_enforcement"
    # a purpose the recipient does not have allows nothing
    assert {r.code: r for r in basis.recipients}["employers"].allowed_for("security") == ()
    records_view = {r.code: r.as_dict() for r in basis.recipients}["advertising_partners"]
    assert records_view["per_purpose"] == {"third_party_marketing": ["contact"],
                                           "third_party_ad_personalisation": ["usage"]}


@pytest.mark.parametrize(("per_purpose", "says"), [
    ({"marketing": ["identity"]}, "not one of its purposes"),
    ({"fraud_prevention": ["messages"]}, "beyond the recipient's"),
    ({"fraud_prevention": []}, "non-empty list"),
    ("identity", "must be a table"),
])
def test_shr2_a_per_purpose_table_beyond_the_recipient_is_refused_at_load(
    per_purpose: Any, says: str,
) -> None:
    raw = tomllib.loads(register_text())
    raw["recipients"]["group_companies"]["per_purpose"] = per_purpose
    register = DataRegister.from_mapping(raw)
    with pytest.raises(InvalidRegister, match=says):
        RecordsBasis.from_mapping(raw, register)
