"""A stand-in for Slack's Web API and incoming webhooks that checks every payload against Slack's docs.

`SlackServer` listens on 127.0.0.1 and a free port:

- `POST /api/chat.postMessage` and `POST /api/chat.update` (JSON or form-encoded, as Slack takes
  both) require `Authorization: Bearer xoxb-...` equal to the server's token, a `channel`, and
  `text` or `blocks`. `chat.postMessage` takes a channel's name (`#incidents`) or id, `chat.update`
  only an id and the `ts` of a message the server posted there; a `thread_ts` must name a message
  in the channel. Answers are Slack's: `{"ok": true, "channel": ..., "ts": ...}` or
  `{"ok": false, "error": "invalid_blocks"}` (`not_authed`, `invalid_auth`, `channel_not_found`,
  `message_not_found`, `no_text`, `msg_too_long`, `invalid_blocks`, `invalid_json`).
- `POST /services/T000/B000/<secret>` is an incoming webhook: `ok` (text/plain), or HTTP 400
  `invalid_blocks` / `no_text` / `invalid_payload`, 404 `no_service` for any other path.
- `POST /actions/...` and `/commands/...` are response URLs (what a click or a slash command
  carries): a JSON message with `text` or `blocks`, `response_type` `ephemeral` or `in_channel`,
  and only the documented keys (`replace_original`, `delete_original`, `thread_ts`, `mrkdwn`), else
  HTTP 400 with the problem. Handrail posts only to `https://hooks.slack.com`; `HooksTransport`
  routes that host here.

Blocks are checked structurally (`block_problems`): the block types header, section, context,
actions and divider; text objects `plain_text` / `mrkdwn`; the documented limits (50 blocks, header
150, section text 3000, field 2000, button text 75, `value` 2000, `action_id` 255 and unique).

Tests read `calls` (everything, in order), `messages` (what is in each channel now) and
`responses` (what reached a response URL), and can make the next answers fail (`fail_next`) or be
rate-limited (`rate_limit_next`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import httpx

from handrail.api.state import ApiState
from handrail.notify.slack_replies import SlackReplies

__all__ = [
    "WEBHOOK_PATH",
    "HooksTransport",
    "SlackCall",
    "SlackMessage",
    "SlackServer",
    "answer_slack_through",
    "block_problems",
]

_THREAD_PREFIX = "handrail-test-server-slack"
"""Starts like tests/support/servers.py's names, so `server_threads()` sees these threads too."""
_BLOCK_TYPES = frozenset({"header", "section", "context", "actions", "divider"})
_MAX_BLOCKS = 50
_CONFIRM = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
"""A confirmation dialog's text objects and their limits."""
_MAX_TEXT = 40_000
"""`text` beyond this is `msg_too_long` (https://api.slack.com/methods/chat.postMessage#truncating)."""
WEBHOOK_PATH = "/services/T000/B000/hook-s3cret-path"
"""The incoming webhook's path; its last part is the secret a notifier must never show."""
_RESPONSE_PATHS = ("/actions/", "/commands/")
_RESPONSE_KEYS = frozenset(
    {"text", "blocks", "response_type", "replace_original", "delete_original", "thread_ts", "mrkdwn"}
)


@dataclass(frozen=True, slots=True)
class SlackCall:
    """One request as the server received it, and what it answered."""

    path: str
    headers: Mapping[str, str]
    payload: Mapping[str, Any]
    status: int
    answer: Any

    @property
    def method(self) -> str:
        """The Web API method (`chat.update`), `response_url`, or `webhook`."""
        if self.path.startswith(_RESPONSE_PATHS):
            return "response_url"
        return self.path.removeprefix("/api/") if self.path.startswith("/api/") else "webhook"

    @property
    def ok(self) -> bool:
        return self.status == 200 and (self.answer == "ok" or (isinstance(self.answer, dict) and self.answer["ok"]))


@dataclass(slots=True)
class SlackMessage:
    """A message in a channel as it stands now, with its edits and thread replies."""

    channel: str
    ts: str
    payload: dict[str, Any]
    thread_ts: str | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)


class SlackServer:
    """Slack's Web API and incoming webhooks on 127.0.0.1, strict about the payloads."""

    def __init__(self, *, token: str = "xoxb-test-t0ken", channels: Mapping[str, str] | None = None) -> None:
        self.token = token
        self.channels: dict[str, str] = dict(channels or {"incidents-payment": "C0PAYMENTS", "ops": "C0OPS"})
        """Channel name (without `#`) → id."""
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        """(channel id, ts) → the message; thread replies are here too."""
        self.webhook_messages: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        """What reached a response URL, in order."""
        self._calls: list[SlackCall] = []
        self._failures: list[tuple[int, str, dict[str, str]]] = []
        self._next_ts = 1_714_564_800_000_100
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{_THREAD_PREFIX}-accept"
        )

    # -- for tests -----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{WEBHOOK_PATH}"

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    def top_level(self, channel_id: str) -> list[SlackMessage]:
        """The channel's messages outside threads, oldest first."""
        with self._lock:
            return [m for m in self.messages.values() if m.channel == channel_id and m.thread_ts is None]

    def fail_next(self, error: str, *, status: int = 200, times: int = 1) -> None:
        """The next `times` requests answer `{"ok": false, "error": error}` with `status` (webhooks: the text)."""
        with self._lock:
            self._failures.extend([(status, error, {})] * times)

    def rate_limit_next(self, *, retry_after: int = 30, times: int = 1) -> None:
        """The next `times` requests answer HTTP 429 with `Retry-After`, as Slack's rate limiter does."""
        with self._lock:
            self._failures.extend([(429, "ratelimited", {"Retry-After": str(retry_after)})] * times)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    # -- answering -----------------------------------------------------------------------------

    def _answer(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        payload = _payload(headers, body)
        with self._lock:
            if self._failures:
                status, error, extra = self._failures.pop(0)
                answer: Any = error if path == WEBHOOK_PATH else {"ok": False, "error": error}
            elif path == WEBHOOK_PATH:
                status, answer, extra = *self._webhook(payload), {}
            elif path.startswith(_RESPONSE_PATHS):
                status, answer, extra = *self._response(headers, payload), {}
            elif path.startswith("/api/"):
                status, answer, extra = 200, self._api(path.removeprefix("/api/"), headers, payload), {}
            else:
                status, answer, extra = 404, "no_service", {}
            self._calls.append(
                SlackCall(path, dict(headers), payload if isinstance(payload, dict) else {}, status, answer)
            )
        return status, answer, extra

    def _api(self, method: str, headers: Mapping[str, str], payload: dict[str, Any] | None) -> dict[str, Any]:
        auth = _header(headers, "authorization")
        if not auth:
            return _error("not_authed")
        if not auth.startswith("Bearer xoxb-") or auth.removeprefix("Bearer ") != self.token:
            return _error("invalid_auth")
        if payload is None:
            return _error("invalid_json")
        if method not in ("chat.postMessage", "chat.update"):
            return _error("unknown_method")
        problem = _message_problem(payload)
        if problem:
            return _error(problem)
        channel = self._channel_id(payload.get("channel"), by_name=method == "chat.postMessage")
        if channel is None:
            return _error("channel_not_found")
        if method == "chat.update":
            message = self.messages.get((channel, str(payload.get("ts", ""))))
            if message is None:
                return _error("message_not_found")
            message.edits.append(message.payload)
            message.payload = payload
            return {"ok": True, "channel": channel, "ts": message.ts, "text": payload.get("text", "")}
        thread_ts = payload.get("thread_ts")
        if thread_ts is not None:
            parent = self.messages.get((channel, str(thread_ts)))
            # Slack posts a reply whose thread_ts names no message into the channel; being stricter
            # here makes a wrong thread_ts fail the test instead of passing unnoticed.
            if parent is None:
                return _error("thread_not_found")
            parent.replies.append(payload)
        self._next_ts += 100
        ts = f"{self._next_ts // 1_000_000}.{self._next_ts % 1_000_000:06d}"
        self.messages[(channel, ts)] = SlackMessage(channel, ts, payload, thread_ts)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": payload.get("text", ""), "ts": ts}}

    def _webhook(self, payload: dict[str, Any] | None) -> tuple[int, str]:
        if payload is None:
            return 400, "invalid_payload"
        problem = _message_problem(payload)
        if problem:
            return 400, problem
        self.webhook_messages.append(payload)
        return 200, "ok"

    def _response(self, headers: Mapping[str, str], payload: dict[str, Any] | None) -> tuple[int, Any]:
        if not _header(headers, "content-type").startswith("application/json") or payload is None:
            return 400, {"ok": False, "error": "invalid_payload"}
        unknown = sorted(set(payload) - _RESPONSE_KEYS)
        if unknown:
            return 400, {"ok": False, "error": f"unknown keys {unknown}"}
        if payload.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
            return 400, {"ok": False, "error": "invalid response_type"}
        flags = [payload.get(k) for k in ("replace_original", "delete_original") if k in payload]
        if not all(isinstance(flag, bool) for flag in flags):
            return 400, {"ok": False, "error": "replace_original and delete_original are booleans"}
        problem = None if payload.get("delete_original") else _message_problem(payload)
        if problem:
            return 400, {"ok": False, "error": problem}
        self.responses.append(payload)
        return 200, {"ok": True}

    def _channel_id(self, channel: object, *, by_name: bool) -> str | None:
        if not isinstance(channel, str):
            return None
        if channel in self.channels.values():
            return channel
        # chat.update takes only ids (https://github.com/slackapi/python-slack-sdk/issues/1495)
        return self.channels.get(channel.removeprefix("#")) if by_name and channel.startswith("#") else None


class HooksTransport(httpx.AsyncBaseTransport):
    """Carries requests for `https://hooks.slack.com/...` to a local server instead; refuses any other host.

    What a test hands `SlackReplies`: Handrail still checks and sends Slack's URL, and only the
    last step, the connection, goes to 127.0.0.1.
    """

    def __init__(self, base_url: str) -> None:
        self._base = httpx.URL(base_url)
        self._inner = httpx.AsyncHTTPTransport()
        self.urls: list[str] = []
        """Every URL asked for, as Handrail asked for it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if request.url.scheme != "https" or request.url.host != "hooks.slack.com":
            raise httpx.ConnectError(f"the test transport carries only https://hooks.slack.com, not {request.url}")
        local = request.url.copy_with(scheme=self._base.scheme, host=self._base.host, port=self._base.port)
        forwarded = httpx.Request(request.method, local, headers=request.headers, content=await request.aread())
        return await self._inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self._inner.aclose()


def answer_slack_through(state: ApiState, base_url: str) -> HooksTransport:
    """Make the app of `state` reach Slack's response URLs (https://hooks.slack.com/...) at `base_url`."""
    transport = HooksTransport(base_url)
    state.slack_replies = SlackReplies(timeout=5, transport=transport)
    return transport


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, answer, extra = self.server.owner._answer(self.path, dict(self.headers.items()), body)
        is_text = isinstance(answer, str)
        data = answer.encode() if is_text else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if is_text else "application/json; charset=utf-8")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `calls`."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: SlackServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        threading.current_thread().name = f"{_THREAD_PREFIX}-handler"
        super().process_request_thread(request, client_address)


# -- the documented format ----------------------------------------------------------------------


def block_problems(blocks: object) -> list[str]:
    """What is wrong with `blocks` by Slack's Block Kit reference; empty when Slack would take them."""
    if not isinstance(blocks, list):
        return ["blocks is not an array"]
    problems = [] if blocks else ["blocks is empty"]
    if len(blocks) > _MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks, more than {_MAX_BLOCKS}")
    action_ids: list[str] = []
    for index, block in enumerate(blocks):
        problems += [f"blocks[{index}]: {problem}" for problem in _block_problems(block, action_ids)]
    duplicates = sorted({a for a in action_ids if action_ids.count(a) > 1})
    if duplicates:
        problems.append(f"action_id used twice: {', '.join(duplicates)}")
    return problems


def _block_problems(block: object, action_ids: list[str]) -> Iterator[str]:
    if not isinstance(block, dict):
        yield "not an object"
        return
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        yield f"type {kind!r} is not one of {sorted(_BLOCK_TYPES)}"
        return
    allowed = {"type", "block_id"} | {
        "header": {"text"},
        "section": {"text", "fields"},
        "context": {"elements"},
        "actions": {"elements"},
        "divider": set(),
    }[kind]
    yield from (f"{kind} has unknown key {key!r}" for key in sorted(set(block) - allowed))
    block_id = block.get("block_id")
    if block_id is not None and not (isinstance(block_id, str) and 0 < len(block_id) <= 255):
        yield "block_id must be 1-255 characters"
    if kind == "header":
        yield from _text_problems(block.get("text"), "text", 150, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            yield "section needs text or fields"
        if "text" in block:
            yield from _text_problems(block["text"], "text", 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not 0 < len(fields) <= 10:
                yield "fields must be 1-10 text objects"
            else:
                for index, item in enumerate(fields):
                    yield from _text_problems(item, f"fields[{index}]", 2000)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 10:
            yield "context elements must be 1-10"
        else:
            for index, item in enumerate(elements):
                yield from _text_problems(item, f"elements[{index}]", 3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 25:
            yield "actions elements must be 1-25"
        else:
            for index, item in enumerate(elements):
                yield from _button_problems(item, f"elements[{index}]", action_ids)


def _button_problems(button: object, where: str, action_ids: list[str]) -> Iterator[str]:
    if not isinstance(button, dict) or button.get("type") != "button":
        yield f"{where}: only buttons are expected here"
        return
    allowed = {"type", "text", "action_id", "value", "style", "url", "confirm", "accessibility_label"}
    yield from (f"{where}: button has unknown key {key!r}" for key in sorted(set(button) - allowed))
    yield from _text_problems(button.get("text"), f"{where}.text", 75, plain_only=True)
    action_id = button.get("action_id")
    if not (isinstance(action_id, str) and 0 < len(action_id) <= 255):
        yield f"{where}: action_id must be 1-255 characters"
    else:
        action_ids.append(action_id)
    value = button.get("value")
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 2000):
        yield f"{where}: value must be 1-2000 characters"
    if button.get("style") not in (None, "primary", "danger"):
        yield f"{where}: style must be primary or danger"
    confirm = button.get("confirm")
    if confirm is not None:
        if not isinstance(confirm, dict):
            yield f"{where}: confirm is not an object"
            return
        yield from (f"{where}: confirm has unknown key {key!r}" for key in sorted(set(confirm) - {*_CONFIRM, "style"}))
        for key, limit in _CONFIRM.items():  # all four are required
            yield from _text_problems(confirm.get(key), f"{where}.confirm.{key}", limit, plain_only=key != "text")


def _text_problems(obj: object, where: str, limit: int, *, plain_only: bool = False) -> Iterator[str]:
    if not isinstance(obj, dict):
        yield f"{where}: not a text object"
        return
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        yield f"{where}: type must be {' or '.join(kinds)}, not {obj.get('type')!r}"
    allowed = {"type", "text"} | ({"emoji"} if obj.get("type") == "plain_text" else {"verbatim"})
    yield from (f"{where}: text object has unknown key {key!r}" for key in sorted(set(obj) - allowed))
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        yield f"{where}: text must be a non-empty string"
    elif len(text) > limit:
        yield f"{where}: text is {len(text)} characters, more than {limit}"


def _message_problem(payload: Mapping[str, Any]) -> str | None:
    """Slack's error code for a message payload that Slack would refuse, else None."""
    text, blocks = payload.get("text"), payload.get("blocks")
    if isinstance(blocks, str):  # form-encoded requests carry blocks as a JSON string
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            return "invalid_blocks_format"
    if not text and not blocks:
        return "no_text"
    if text is not None and not isinstance(text, str):
        return "invalid_arguments"
    if isinstance(text, str) and len(text) > _MAX_TEXT:
        return "msg_too_long"
    if blocks is not None and block_problems(blocks):
        return "invalid_blocks"
    return None


def _payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    kind = _header(headers, "content-type").split(";", 1)[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded":
            return {key: values[0] for key, values in parse_qs(body.decode(), keep_blank_values=True).items()}
        data = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}
