"""Request dependencies: the app's state, and the identity a route requires."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from handrail.api.auth import Identity
from handrail.api.errors import ApiError
from handrail.api.state import ApiState

__all__ = ["authenticate", "require", "state_of"]


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.handrail
    return state


def authenticate(state: ApiState, header: str | None) -> Identity:
    """Whose bearer token `header` (`Authorization`) carries; 401 without one or for an unknown one."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>`")
    identity = state.tokens.identify(token.strip())
    if identity is None:
        raise ApiError(401, "unauthorized", "unknown token")
    return identity


def require(role: str) -> Callable[[Request], Identity]:
    """A dependency: the caller's identity, which must have `role`; 401 without a token, 403 without the role."""

    def dependency(request: Request) -> Identity:
        identity = authenticate(state_of(request), request.headers.get("authorization"))
        if not identity.may(role):
            raise ApiError(403, "forbidden", f"{identity.name} ({identity.role}) may not do this: it needs {role}")
        return identity

    return dependency
