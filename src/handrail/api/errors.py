"""Every API error is JSON that names the problem and, for bad input, the field.

Bad input never becomes a 500: a body that is not JSON, or not an object, is `field: "body"`. JSON
bodies are read the way Go's encoding/json (Alertmanager's) reads them: bytes that are not valid
text, and lone UTF-16 surrogates (`"\\ud800"`, which JSON may spell but which are not text), become
U+FFFD.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail.errors import CatalogError, FourEyesError, IncidentError
from handrail.store.reconnect import is_disconnect

__all__ = ["ApiError", "UnicodeJsonMiddleware", "install_error_handlers"]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ApiError(Exception):
    """An error with an HTTP status, a stable code and, for bad input, the field at fault."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": {**error, **extra}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message, exc.field), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field(first)
        details = [{"field": _field(e) or "", "message": e.get("msg")} for e in errors]
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return JSONResponse(_body("invalid_request", message, field, details=details), status_code=422)

    @app.exception_handler(IncidentError)
    async def incident_error(_: Request, exc: IncidentError) -> JSONResponse:
        status = 404 if str(exc).startswith("no incident") else 409
        return JSONResponse(_body("not_found" if status == 404 else "conflict", str(exc)), status_code=status)

    @app.exception_handler(FourEyesError)
    async def four_eyes(_: Request, exc: FourEyesError) -> JSONResponse:
        return JSONResponse(_body("four_eyes", str(exc)), status_code=403)

    @app.exception_handler(CatalogError)
    async def catalog_error(_: Request, exc: CatalogError) -> JSONResponse:
        return JSONResponse(_body("unknown_runbook", exc.public, "runbookId"), status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(sa.exc.DBAPIError)
    async def database_error(_: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        if is_disconnect(exc):  # the store waited `reconnect_within` seconds already: try again later
            body = _body("unavailable", "the database cannot be reached; try again shortly")
            return JSONResponse(body, status_code=503, headers={"retry-after": "5"})
        return JSONResponse(_body("internal", f"internal error ({type(exc).__name__}); see the server log"), 500)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body("internal", f"internal error ({type(exc).__name__}); see the server log"), 500)

    app.add_middleware(UnicodeJsonMiddleware)


def _field(error: Mapping[str, Any]) -> str | None:
    """Where a validation error is: `alerts.0.labels.x`, `query.offset`, or `body` for the body as a whole."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc[:1] == ["body"]:
        # the body itself (not JSON, not an object, missing); for `json_invalid` the rest is a byte offset
        return ".".join(loc[1:]) if len(loc) > 1 and error.get("type") != "json_invalid" else "body"
    return ".".join(loc) or None


class UnicodeJsonMiddleware:
    """Reads invalid text and lone UTF-16 surrogates in JSON request bodies as U+FFFD (#9 fuzzing: 400/500s)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or b"json" not in dict(scope["headers"]).get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        body, pending = b"", []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: pass that on after the body
                pending.append(message)
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        repaired = _valid_text(body)
        if _SURROGATE_ESCAPE.search(repaired):
            repaired = _without_lone_surrogates(repaired)
        if repaired != body:
            body = repaired
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *pending]

        async def receive_again() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, receive_again, send)


def _valid_text(body: bytes) -> bytes:
    """`body`, or its text with what does not decode replaced by U+FFFD, in UTF-8 (JSON's encoding, RFC 8259)."""
    encoding = json.detect_encoding(body)
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return body.decode(encoding, "replace").encode("utf-8")
    return body


def _without_lone_surrogates(body: bytes) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:  # not JSON: FastAPI answers 422 `body` for it
        return body
    return json.dumps(_replace_surrogates(data)).encode()


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(key): _replace_surrogates(item) for key, item in value.items()}
    return value
