"""Every API error is JSON that names the problem and, for bad input, the field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from handrail.errors import CatalogError, IncidentError

__all__ = ["ApiError", "install_error_handlers"]


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
        field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg")}
            for e in errors
        ]
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return JSONResponse(_body("invalid_request", message, field, details=details), status_code=422)

    @app.exception_handler(IncidentError)
    async def incident_error(_: Request, exc: IncidentError) -> JSONResponse:
        status = 404 if str(exc).startswith("no incident") else 409
        return JSONResponse(_body("not_found" if status == 404 else "conflict", str(exc)), status_code=status)

    @app.exception_handler(CatalogError)
    async def catalog_error(_: Request, exc: CatalogError) -> JSONResponse:
        return JSONResponse(_body("unknown_runbook", str(exc), "runbookId"), status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body("internal", f"internal error ({type(exc).__name__}); see the server log"), 500)
