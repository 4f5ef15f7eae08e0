"""Member helpers for the platform tests: sign-up, log-in, step-up over the gateway."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from devstack.testing import eventually, unique


@dataclass
class Member:
    """A signed-up member and their personal values (to search dumps for)."""

    account_id: str
    email: str
    password: str
    name: str
    username: str
    phone: str
    street: str
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        """Authorization header of the member's session."""
        return {"Authorization": f"Bearer {self.token}"}

    def personal_values(self) -> list[str]:
        """Values that must never appear in plaintext at rest (SEC-1)."""
        return [self.email, self.name, self.username, self.phone, self.street]


def sign_up_body(tag: str = "m") -> dict[str, object]:
    """A valid sign-up body with values unique to this call."""
    u = unique(tag).replace("-", "")
    return {
        "email": f"{u}@example.nl", "password": f"pw-{u}-Secret!", "name": f"Name {u}",
        "username": f"user{u}"[:30], "phone": "+316" + str(int(u[-8:], 16) % 10**8).zfill(8),
        "address": {"street": f"Street {u} 12", "postcode": "1234 AB", "city": "Utrecht"},
    }


def sign_up(client: httpx.Client, tag: str = "m", login: bool = True) -> Member:
    """Sign a member up (and log in) through the gateway."""
    body = sign_up_body(tag)
    terms = client.get("/v1/terms")
    assert terms.status_code == 200, terms.text  # e.g. 503 while PostgreSQL is down
    body["accept_terms_version"] = terms.json()["version"]
    resp = client.post("/v1/accounts", json=body)
    assert resp.status_code == 201, resp.text
    m = Member(resp.json()["account_id"], str(body["email"]), str(body["password"]),
               str(body["name"]), str(body["username"]), str(body["phone"]),
               str(body["address"]["street"]))  # type: ignore[index]
    if login:
        log_in(client, m)
    return m


def post_listing(client: httpx.Client, m: Member, title: str, description: str) -> str:
    """An ad of ``m`` in Utrecht, posted once listings has learnt of the account; its id."""

    def posted() -> str:
        made = client.post("/v1/listings", headers=m.auth, json={
            "kind": "ad", "title": title, "description": description,
            "location": {"city": "Utrecht"}})
        assert made.status_code == 201, made.text
        return str(made.json()["listing_id"])

    return eventually(posted, timeout=20)


def log_in(client: httpx.Client, m: Member, remember_me: bool = False) -> None:
    """Start a session for ``m``."""
    resp = client.post("/v1/sessions", json={"email": m.email, "password": m.password,
                                             "remember_me": remember_me})
    assert resp.status_code == 201, resp.text
    m.token = resp.json()["token"]


def step_up(client: httpx.Client, m: Member) -> None:
    """Open the step-up window of ``m``'s session."""
    resp = client.post("/v1/sessions/current/reauth", json={"password": m.password},
                       headers=m.auth)
    assert resp.status_code == 204, resp.text
