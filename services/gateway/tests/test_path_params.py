"""Issue 26 (SEC-2): path parameters cannot change which internal resource is reached.

Unit tests of the quoting helper and the call guard, a check of every route of the
gateway's OpenAPI (a route added later with an unchecked path parameter fails it), and
the smuggled public-profile reads against an in-process accounts service.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.deps import UUID_PATTERN, Upstreams, internal_path
from kernel.http import ApiError
from kernel.internal_auth import CallSigner, new_internal_key

SMUGGLED = ["?", "#", "?x=1", "%2Fdevices?", "/../devices", "%2E%2E%2F", "\x00", "\r\n"]


@pytest.mark.unit
@pytest.mark.parametrize("tail", SMUGGLED)
def test_sec_2_a_segment_is_quoted_whole(tail: str) -> None:
    value = str(uuid.uuid4()) + tail
    path = internal_path("/internal/accounts/{account_id}/public", account_id=value)
    head, segment, rest = path.rsplit("/", 2)
    assert (head, rest) == ("/internal/accounts", "public")
    assert not re.search(r"[?#/\x00\r\n]", segment)


@pytest.mark.unit
@pytest.mark.parametrize("value", ["", ".", ".."])
def test_sec_2_an_empty_or_dot_segment_is_404(value: str) -> None:
    with pytest.raises(ApiError) as refused:
        internal_path("/internal/listings/{listing_id}", listing_id=value)
    assert refused.value.status == 404


@pytest.mark.unit
def test_sec_2_the_segments_name_exactly_the_templates_fields() -> None:
    with pytest.raises(ValueError):
        internal_path("/internal/listings/{listing_id}", other="x")


@pytest.mark.unit
@pytest.mark.parametrize("path", [
    "/internal/accounts/a?b/public", "/internal/accounts/a#b", "/internal/accounts/../x",
    "/internal/accounts/./x", "/internal/accounts/a b", "internal/x", "/internal/x/",
])
async def test_sec_2_a_path_not_built_by_quoting_never_leaves_the_gateway(path: str) -> None:
    class Refusing(Upstreams):
        async def _request(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("called")

    ups = Refusing({"accounts": "http://127.0.0.1:9"}, 1, CallSigner(b"k" * 32))
    with pytest.raises(ApiError) as refused:
        await ups.call("accounts", "GET", path)
    assert refused.value.status == 404


@pytest.mark.unit
def test_sec_2_every_path_parameter_of_the_openapi_has_a_strict_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKET_SECRETS_INTERNAL_KEY", new_internal_key())
    spec = create_app().openapi()
    params = [(path, method, p) for path, ops in spec["paths"].items()
              for method, op in ops.items() for p in op.get("parameters", [])
              if p["in"] == "path"]
    assert len(params) >= 30
    for path, method, param in params:
        pattern = param["schema"].get("pattern")
        assert pattern and pattern.startswith("^") and pattern.endswith("$"), (path, method)
        assert not re.search(r"[.\\]\*|\.\+|\[\^", pattern.replace("\\.", "")), (path, pattern)
        if param["name"].endswith("_id") and param["name"] != "hold_id":
            assert pattern == UUID_PATTERN, (path, param["name"])


@pytest.mark.integration
async def test_sec_2_a_smuggled_profile_path_is_404_and_holds_nothing(
    accounts_gateway: Any,
) -> None:
    gw: httpx.AsyncClient = accounts_gateway.client
    tag = uuid.uuid4().hex[:10]
    body = {"email": f"v{tag}@example.org", "password": "correct horse battery",
            "name": f"Victim {tag}", "username": f"v_{tag}", "phone": "+31612345678",
            "accept_terms_version": "2026-01"}
    made = await gw.post("/v1/accounts", json=body)
    assert made.status_code == 201
    victim = made.json()["account_id"]
    public = await gw.get(f"/v1/members/{victim}")
    assert public.status_code == 200 and body["email"] not in public.text
    for tail in ("%3F", "%23", "%3Fx%3D1", "%252Fdevices%3F", "%252F..%252F", "%00", "%0D%0A"):
        resp = await gw.get(f"/v1/members/{victim}{tail}")
        assert resp.status_code == 404, (tail, resp.text)
        assert body["email"] not in resp.text and body["name"] not in resp.text
