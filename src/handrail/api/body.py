"""Every request body is read here: bounded as it arrives, after the token, and JSON decoded safely.

- Each route has a body limit: `api.limits.alertBodyBytes` for the Alertmanager webhook,
  `api.limits.bodyBytes` for every other route (console forms and Slack included). A
  `Content-Length` over it is refused before a byte is read; a body that grows past it while it
  arrives (chunked, or a lying length) is refused the moment it does. Either way the rest is never
  read: a 413 naming `body`, and the connection closes. No more than the limit is ever held.
- On the bearer-token routes (`/api/...`, Slack's aside) a request with a body must show a known
  token first: 401 before a byte of the body is read. Slack's routes check their signature headers
  before reading (api/slack.py); the signature itself is over the body.
- A JSON body (what FastAPI decodes as JSON: `application/json`, `application/*+json`) is decoded
  here once before the route sees it. More than `api.limits.jsonDepth` levels of nesting (or more
  than Python's decoder can recurse), or a number too long to convert, is a 422 naming `body`:
  never a RecursionError or a 500. It is read the way Go's encoding/json (Alertmanager's) reads it:
  bytes that are not valid text, and lone UTF-16 surrogates (`"\\ud800"`, which JSON may spell but
  which are not text), become U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handrail.api.deps import authenticate
from handrail.api.errors import ApiError, BodyTooLarge, error_response
from handrail.api.state import ApiState

__all__ = ["ALERTS_PATH", "RequestBodyMiddleware"]

ALERTS_PATH = "/api/v1/alerts/alertmanager"
_SLACK = "/api/v1/slack/"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestBodyMiddleware:
    """Holds every request body to its route's limit, checks the token first, and decodes JSON bodies safely."""

    def __init__(self, app: ASGIApp, *, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if headers is None or not _has_body(headers):
            await self.app(scope, receive, send)
            return
        limits = self.state.settings.api.limits
        path: str = scope["path"]
        limit, setting = (
            (limits.alert_body_bytes, "alertBodyBytes") if path == ALERTS_PATH else (limits.body_bytes, "bodyBytes")
        )
        json_body = _is_json(headers.get("content-type"))
        try:
            if path.startswith("/api/") and not path.startswith(_SLACK):
                authenticate(self.state, headers.get("authorization"))
            if (_content_length(headers) or 0) > limit:
                raise BodyTooLarge(limit, setting)
            if json_body:
                body, pending = await _read(receive, limit, setting)
                repaired = _decoded(body, limits.json_depth)
        except BodyTooLarge as exc:
            await error_response(_too_large(exc), close=True)(scope, receive, send)
            return
        except ApiError as exc:  # a 401 leaves the body unread (close); a 422 read it all
            await error_response(exc, close=exc.status != 422)(scope, receive, send)
            return
        if not json_body:
            await self._counted(scope, receive, send, limit, setting)
            return
        scope = _with_length(scope, repaired, changed=repaired is not body)
        await self.app(scope, _replay(repaired, pending, receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int, setting: str) -> None:
        """Run the app on a `receive` that counts the body and raises `BodyTooLarge` past `limit` (forms, Slack)."""
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # the app's own handler answers it; this is for a read outside a route
            if started:
                raise
            await error_response(_too_large(exc), close=True)(scope, receive, send)


def _too_large(exc: BodyTooLarge) -> ApiError:
    return ApiError(413, "too_large", str(exc.detail), field="body")


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or bool(_content_length(headers))


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI decodes a body of this type as JSON (`application/json`, `application/*+json`)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def _read(receive: Receive, limit: int, setting: str) -> tuple[bytes, list[Message]]:
    """The whole body, never more than `limit` bytes of it; and the messages after it (a disconnect)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: pass that on after the body
            return bytes(body), [message]
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge(limit, setting)
        if not message.get("more_body", False):
            return bytes(body), []


def _decoded(body: bytes, depth: int) -> bytes:
    """`body` as the route should read it; ApiError 422 naming `body` for JSON no route can take."""
    text = _valid_text(body)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # not JSON: FastAPI answers 422 `body` for it, with the place
        return text
    except RecursionError:
        raise _invalid(f"JSON nested more than {depth} levels deep (api.limits.jsonDepth)") from None
    except ValueError:  # an integer of more than 4,300 digits (Python's int conversion limit)
        raise _invalid("JSON holds a number too long to read") from None
    if _deeper_than(data, depth):
        raise _invalid(f"JSON nested more than {depth} levels deep (api.limits.jsonDepth)")
    if _SURROGATE_ESCAPE.search(text):
        return json.dumps(_replace_surrogates(data)).encode()
    return text


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", f"body: {message}", field="body")


def _deeper_than(data: Any, depth: int) -> bool:
    """Whether arrays and objects nest more than `depth` levels in `data` (without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if level > depth:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _valid_text(body: bytes) -> bytes:
    """`body`, or its text with what does not decode replaced by U+FFFD, in UTF-8 (JSON's encoding, RFC 8259)."""
    encoding = json.detect_encoding(body)
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return body.decode(encoding, "replace").encode("utf-8")
    return body


def _replace_surrogates(value: Any) -> Any:
    """`value` with lone surrogates as U+FFFD; recursion is bounded by `api.limits.jsonDepth` (at most 200)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(key): _replace_surrogates(item) for key, item in value.items()}
    return value


def _with_length(scope: Scope, body: bytes, *, changed: bool) -> Scope:
    if not changed:
        return scope
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}


def _replay(body: bytes, pending: list[Message], receive: Receive) -> Receive:
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *pending]

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
