"""HTTP conventions shared by the gateway and the services' internal APIs.

Errors are ``{"error": {"code", "message"}}``, never a stack trace; PostgreSQL being
unreachable is a 503; bodies above a limit are refused before they are read whole.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.eventstore import DATABASE_DOWN, ConcurrencyError
from kernel.keystore import SubjectErasedError
from kernel.logs import get_logger
from kernel.metrics import HTTP_LATENCY

log = get_logger(__name__)

MAX_BODY_BYTES = 1_000_000
"""Largest request body accepted (attachments are base64 inside JSON)."""


class ApiError(Exception):
    """An error answer with a stable code."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error shape of API.md."""
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error answer."""
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def validation_problems(errors: Any) -> list[dict[str, Any]]:
    """Where each problem is and what is wrong, never the submitted value (API.md).

    FastAPI's 422 body carries ``input`` (the value sent: a password, an e-mail) and
    ``ctx``; only ``loc``, ``msg`` and ``type`` are kept, and ``msg`` is pydantic's
    generic text (the platform's own validators never quote a value).
    """
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in errors]


def validation_response(errors: Any) -> JSONResponse:
    """A 422 naming the fields and what is wrong with them, without their values."""
    problems = validation_problems(errors)
    fields = ", ".join(
        ".".join(str(p) for p in problem["loc"][1:] or problem["loc"]) or "request"
        for problem in problems
    )
    return JSONResponse(
        {"error": {"code": "invalid_request", "message": f"invalid fields: {fields}"},
         "detail": problems},
        status_code=422,
    )


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    """Map kernel and database errors to clean JSON answers."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc.errors())

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message,
                              dict(exc.headers) if exc.headers else None)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(ConcurrencyError)
    async def _conflict(_: Request, exc: ConcurrencyError) -> JSONResponse:
        return error_response(409, "conflict", "another write won the race; retry")

    @app.exception_handler(SubjectErasedError)
    async def _erased(_: Request, exc: SubjectErasedError) -> JSONResponse:
        return error_response(410, "subject_erased", "this data subject has been erased")

    # A connection cut mid-statement can leave asyncpg's protocol in a wrong state.
    for exc_type in (*DATABASE_DOWN, asyncpg.InternalClientError):
        app.add_exception_handler(exc_type, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled", error=type(exc).__name__)
        return error_response(500, "internal", "internal error")


async def _unavailable(_: Request, exc: Exception) -> Response:
    log.warning("http.database_unavailable", error=type(exc).__name__)
    return error_response(503, "unavailable", "a backing service is unavailable; retry later",
                          {"Retry-After": "1"})


class BodyLimitMiddleware:
    """Refuses bodies above ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(scope, receive, send, self.limit)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, receive, send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = error_response(413, "payload_too_large", f"request body above {limit} bytes")
    await response(scope, receive, send)


class LatencyMiddleware:
    """Records request latency by route template (never by concrete path)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_LATENCY.labels(self.service, path, scope["method"], str(status)).observe(
                time.perf_counter() - start
            )
