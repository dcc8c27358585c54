"""Every API error is JSON that names the problem and, for bad input, the field.

Bad input never becomes a 500: a body that is not JSON, or not an object, is `field: "body"`; a
body over its size limit is a 413 naming `body` (api/body.py reads every body); a value over its
limit (`api.limits`) is a 422 naming the field. An incident command that does not fit is answered by
the type of `IncidentService`'s error, never by its text: not found 404, forbidden 403 (four eyes
403 `four_eyes`), any other conflict 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from handrail.engine.service import is_disconnect
from handrail.errors import (
    CatalogError,
    FourEyesError,
    IncidentError,
    IncidentForbiddenError,
    IncidentNotFoundError,
    InputLimitError,
)

__all__ = ["ApiError", "BodyTooLarge", "error_response", "install_error_handlers"]


class ApiError(Exception):
    """An error with an HTTP status, a stable code and, for bad input, the field at fault."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class BodyTooLarge(StarletteHTTPException):
    """A request body went past its limit while it was read (an HTTPException, so FastAPI passes it on as is)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes (api.limits.{setting})")


def error_response(exc: ApiError, *, close: bool = False) -> JSONResponse:
    """`exc` as the API's JSON error; with `close`, the connection closes after it (a body was left unread)."""
    headers = {"connection": "close"} if close else None
    return JSONResponse(_body(exc.code, exc.message, exc.field), status_code=exc.status, headers=headers)


def _body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": {**error, **extra}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(ApiError(413, "too_large", str(exc.detail), field="body"), close=True)

    @app.exception_handler(InputLimitError)
    async def over_limit(_: Request, exc: InputLimitError) -> JSONResponse:
        return error_response(ApiError(422, "too_large", str(exc), field=exc.field))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field(first)
        details = [{"field": _field(e) or "", "message": e.get("msg")} for e in errors]
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return JSONResponse(_body("invalid_request", message, field, details=details), status_code=422)

    # Starlette picks the handler of the error's nearest class: these four cover IncidentError's tree.
    @app.exception_handler(IncidentError)
    async def incident_conflict(_: Request, exc: IncidentError) -> JSONResponse:
        return JSONResponse(_body("conflict", str(exc)), status_code=409)

    @app.exception_handler(IncidentNotFoundError)
    async def incident_not_found(_: Request, exc: IncidentNotFoundError) -> JSONResponse:
        return JSONResponse(_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(IncidentForbiddenError)
    async def incident_forbidden(_: Request, exc: IncidentForbiddenError) -> JSONResponse:
        return JSONResponse(_body("forbidden", str(exc)), status_code=403)

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


def _field(error: Mapping[str, Any]) -> str | None:
    """Where a validation error is: `alerts.0.labels.x`, `query.offset`, or `body` for the body as a whole."""
    loc = [str(part) for part in error.get("loc", ())]
    if loc[:1] == ["body"]:
        # the body itself (not JSON, not an object, missing); for `json_invalid` the rest is a byte offset
        return ".".join(loc[1:]) if len(loc) > 1 and error.get("type") != "json_invalid" else "body"
    return ".".join(loc) or None
