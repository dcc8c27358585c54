"""Console logins: an API token, presented once, becomes a signed session cookie; forms carry a CSRF token.

The cookie holds the token's SHA-256 digest (never the token), a random session id, a random CSRF
token and the expiry, signed with `itsdangerous` under `api.sessionSecret`. Every request finds the
identity again in the `TokenRegistry`, so removing a token ends its sessions at once, and the
session id among the live sessions (`store/sessions.py`), so logging out ends the session for every
copy of the cookie. The cookie is `HttpOnly` and `SameSite=Lax`, and `Secure` whenever the console
is reached over HTTPS. A form that changes something must carry the session's CSRF token (a hidden
field, or the `X-CSRF-Token` header from the console's own script), and a browser `Origin` other
than the console's own is refused, on the login form too (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from handrail.api.auth import Identity, TokenRegistry, digest
from handrail.engine.service import SqlConsoleSessions

__all__ = ["COOKIE", "CSRF_FIELD", "CSRF_HEADER", "ConsoleSession", "SessionSigner"]

COOKIE = "handrail_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A logged-in person: who (from the token registry) and the CSRF token their forms carry."""

    identity: Identity
    csrf: str
    session_id: str

    def may(self, role: str) -> bool:
        return self.identity.may(role)


class SessionSigner:
    """Issues, reads and ends session cookies; checks the origin and CSRF token of a changing request.

    Its calls to `sessions` are awaited: they run on the incident service's pool, off the event loop.
    """

    def __init__(
        self,
        secret: str | None,
        *,
        sessions: SqlConsoleSessions,
        lifetime: timedelta,
        public_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._serializer = URLSafeTimedSerializer(secret or secrets.token_urlsafe(32), salt="handrail-console")
        self._sessions = sessions
        self._clock = clock
        self.lifetime = lifetime
        self._public_origin = _origin_of(public_url) if public_url else None

    async def log_in(self, response: Response, request: Request, token: str, identity: Identity) -> None:
        """Start a session for a token already found valid (`identity` is its) and set its cookie."""
        session_id, now = secrets.token_urlsafe(32), self._clock()
        await self._sessions.start(session_id, name=identity.name, now=now, expires_at=now + self.lifetime)
        value = self._serializer.dumps({"t": digest(token), "c": secrets.token_urlsafe(24), "s": session_id})
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(self.lifetime.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=_https(request),
            path="/",
        )

    async def log_out(self, response: Response, request: Request, session: ConsoleSession) -> None:
        """End the session, for every copy of its cookie, and delete this browser's copy."""
        await self._sessions.end(session.session_id)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_https(request))

    async def read(self, request: Request, tokens: TokenRegistry) -> ConsoleSession | None:
        """The session of this request: a cookie we signed, unexpired, whose token exists and session is live."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            payload = self._serializer.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not all(isinstance(payload.get(key), str) for key in ("t", "c", "s")):
            return None
        identity = tokens.identify_digest(payload["t"])
        if identity is None or not await self._sessions.is_live(payload["s"], now=self._clock()):
            return None
        return ConsoleSession(identity, payload["c"], payload["s"])

    def origin_ok(self, request: Request) -> bool:
        """No foreign page sent this request: its `Origin`, when a browser sent one, is the console's own.

        Browsers send `Origin` with every cross-origin POST (the Fetch standard), and `null` from
        sandboxed or privacy-redirected documents, which is refused too; a request without one is
        not from a browser's cross-site form.
        """
        origin = request.headers.get("origin")
        return origin is None or origin.rstrip("/") in (_own_origin(request), self._public_origin)

    def csrf_ok(self, request: Request, session: ConsoleSession, presented: str | None) -> bool:
        """The request came from one of our own pages: its CSRF token matches and no foreign Origin sent it."""
        if not self.origin_ok(request):
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
