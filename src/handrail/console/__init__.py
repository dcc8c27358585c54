"""The web console: incidents with their live timeline and approvals, runbooks with their decision trees, analytics.

`install_console(app, state)` adds it to the API's app: server-rendered pages (Jinja2, autoescaped)
at `/`, the console's own CSS and script at `/static/`, and logins that turn an API token into a
session cookie (`session.py`). docs/console.md describes it for users.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from handrail.api.state import ApiState
from handrail.console.pages import ConsoleError, LoginRequired, router, templates
from handrail.console.session import SessionSigner

__all__ = ["install_console"]

_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def install_console(app: FastAPI, state: ApiState) -> None:
    api = state.settings.api
    secret = api.session_secret.get_secret_value() if api.session_secret else None
    app.state.console_sessions = SessionSigner(
        secret,
        sessions=state.service.console_sessions(),
        lifetime=timedelta(hours=api.session_hours),
        public_url=api.console_url,
    )

    @app.middleware("http")
    async def page_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if not request.url.path.startswith("/api/"):
            # Our own script and styles only; no framing (the Approve button must not be clickjacked).
            response.headers.setdefault("content-security-policy", _POLICY)
            response.headers.setdefault("x-frame-options", "DENY")
            response.headers.setdefault("x-content-type-options", "nosniff")
            response.headers.setdefault("referrer-policy", "same-origin")
        return response

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(ConsoleError)
    async def console_error(request: Request, exc: ConsoleError) -> Response:
        context = {"request": request, "session": None, "status": exc.status, "message": exc.message}
        return templates.TemplateResponse(request, "error.html", context, status_code=exc.status)
