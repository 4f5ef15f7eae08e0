"""Whose data an internal call may touch: the account the gateway's signature vouches for.

A service's internal route that serves a member's own data names the account in its path
(``/internal/accounts/{account_id}/devices``); the path alone is not proof. The gateway
signs ``X-Account-Id`` with every call (an absent header is signed as empty, see
``kernel.internal_auth``), so a route takes the account from that header and answers 404,
as for an account that does not exist (API.md), when the path names any other account or
the call speaks for none (issue 26, SEC-2).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path

from kernel.http import ApiError

ACCOUNT_HEADER = "X-Account-Id"
"""The signed identity header naming the member the gateway authenticated."""


def same_account(path_value: str, caller: str | None) -> str:
    """``path_value`` when it names the caller's own account; 404 ``not_found`` otherwise."""
    if not caller or path_value.lower() != caller.lower():
        raise ApiError(404, "not_found", "no such account")
    return caller


def own_account(param: str = "account_id") -> Any:
    """A dependency: the path parameter ``param``, only when it is the signed caller's account.

    Use as ``account_id: Annotated[str, own_account()]`` in place of ``account_id: str``.
    """

    async def checked(value: str, caller: str | None = None) -> str:
        return same_account(value, caller)

    # Set as objects, not strings: FastAPI cannot resolve this closure's names.
    checked.__annotations__.update(
        value=Annotated[str, Path(alias=param)],
        caller=Annotated[str | None, Header(alias=ACCOUNT_HEADER)],
    )
    return Depends(checked)


OwnAccount = Annotated[str, own_account()]
"""The ``{account_id}`` path parameter, checked against the signed ``X-Account-Id``."""
