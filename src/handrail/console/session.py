"""Console logins: an API token, presented once, becomes a signed session cookie; forms carry a CSRF token.

The cookie holds the token's SHA-256 digest (never the token), a random CSRF token and the expiry,
signed with `itsdangerous` under `api.sessionSecret`. Every request finds the identity again in the
`TokenRegistry`, so removing a token ends its sessions at once. The cookie is `HttpOnly` and
`SameSite=Lax`, and `Secure` whenever the console is reached over HTTPS. A form that changes
something must carry the session's CSRF token (a hidden field, or the `X-CSRF-Token` header from the
console's own script), and a browser `Origin` other than the console's own is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from handrail.api.auth import Identity, TokenRegistry, digest

__all__ = ["COOKIE", "CSRF_FIELD", "CSRF_HEADER", "ConsoleSession", "SessionSigner"]

COOKIE = "handrail_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A logged-in person: who (from the token registry) and the CSRF token their forms carry."""

    identity: Identity
    csrf: str

    def may(self, role: str) -> bool:
        return self.identity.may(role)


class SessionSigner:
    """Issues and reads session cookies; checks the CSRF token of a changing request."""

    def __init__(self, secret: str | None, *, lifetime: timedelta, public_url: str | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(secret or secrets.token_urlsafe(32), salt="handrail-console")
        self.lifetime = lifetime
        self._public_origin = _origin_of(public_url) if public_url else None

    def log_in(self, response: Response, request: Request, token: str) -> None:
        """Set the session cookie for a token already found valid."""
        value = self._serializer.dumps({"t": digest(token), "c": secrets.token_urlsafe(24)})
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(self.lifetime.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=_https(request),
            path="/",
        )

    @staticmethod
    def log_out(response: Response, request: Request) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_https(request))

    def read(self, request: Request, tokens: TokenRegistry) -> ConsoleSession | None:
        """The session of this request: a cookie we signed, not expired, whose token still exists."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            payload = self._serializer.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("t"), str) or not payload.get("c"):
            return None
        identity = tokens.identify_digest(payload["t"])
        return ConsoleSession(identity, str(payload["c"])) if identity is not None else None

    def csrf_ok(self, request: Request, session: ConsoleSession, presented: str | None) -> bool:
        """The request came from one of our own pages: its CSRF token matches and no foreign Origin sent it."""
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in (_own_origin(request), self._public_origin):
            return False
        presented = presented or request.headers.get(CSRF_HEADER)
        return bool(presented) and hmac.compare_digest(str(presented).encode(), session.csrf.encode())


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _origin_of(url: str) -> str:
    """`https://handrail.example.com/console` → `https://handrail.example.com` (`api.consoleUrl`, behind a proxy)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
