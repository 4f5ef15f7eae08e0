"""A victim member for the leak tests (issue 26): every kind of private value, to look for."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from members import Member, log_in, sign_up_body

from devstack.testing import unique


@dataclass
class Victim(Member):
    """A member with a date of birth and a registered device."""

    date_of_birth: str = ""
    device_id: str = ""
    push_token: str = ""

    def secrets(self) -> list[str]:
        """Values of this member that no other caller may read."""
        return [self.email, self.name, self.phone, self.street, self.date_of_birth,
                self.device_id, self.push_token]


@pytest.fixture(scope="module")
def victim(client: httpx.Client) -> Victim:
    """A member with every kind of private value: profile, date of birth, device."""
    body = sign_up_body("victim")
    tag = unique("v").replace("-", "")
    body.update(date_of_birth="1987-06-05",
                accept_terms_version=client.get("/v1/terms").json()["version"])
    made = client.post("/v1/accounts", json=body)
    assert made.status_code == 201, made.text
    address: dict[str, str] = body["address"]  # type: ignore[assignment]
    v = Victim(made.json()["account_id"], str(body["email"]), str(body["password"]),
               str(body["name"]), str(body["username"]), str(body["phone"]), address["street"])
    log_in(client, v)
    v.date_of_birth, v.device_id, v.push_token = "1987-06-05", f"dev{tag}", f"push{tag}"
    device = client.post("/v1/me/devices", headers=v.auth, json={
        "device_id": v.device_id, "device_type": "ios", "push_token": v.push_token})
    assert device.status_code == 201, device.text
    return v
