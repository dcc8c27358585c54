"""flush_cache: flush a Redis database, or only the keys matching a pattern; or flush a memcached server.

- Redis without `pattern`: `DBSIZE`, then `FLUSHDB ASYNC` on the one db (the params' `db`, else the
  URL's). Never `FLUSHALL`. ASYNC frees the memory in the background, so a big db does not stall
  every other client of the server while it is emptied; its keys are gone at once all the same.
- Redis with `pattern`: `SCAN cursor MATCH pattern COUNT scan_count`, and `UNLINK` of each batch,
  until the cursor returns to 0 or `max_keys` keys have been named to UNLINK. Never `KEYS`, which
  blocks the server while it walks the whole keyspace. Stopping at `max_keys` is the rail doing
  its job, not a failure: the outcome is ok and says so (a failed outcome would invite a retry,
  which would take the next `max_keys` keys). Whether the symptom is gone is the verify step's call.
- A `{{ ... }}` value in `pattern` is glob-escaped (`*?[]\\` each get a backslash), so a label can
  only ever match itself, never widen the match.
- memcached: `stats` (for the item count), then `flush_all`, over the plain text protocol
  (https://github.com/memcached/memcached/blob/master/doc/protocol.txt). It cannot match keys, so a
  `pattern` is refused.

The whole run gets the shorter of the connection's `timeout` and the step's. The URL usually holds a
password: everything shown names the cache by its URL with the password replaced by `***`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from handrail.actions.base import ActionContext, ActionOutcome, ActionParams, ActionScope
from handrail.errors import ActionError, TemplateError
from handrail.redaction import redact, url_secrets
from handrail.runbook.model import Duration, StrictModel
from handrail.runbook.template import parse_template, render_text

__all__ = ["CacheConnection", "FlushCacheAction", "FlushCacheParams"]

_Backend = Literal["redis", "memcached"]
_SCHEMES: dict[str, tuple[_Backend, int]] = {
    "redis": ("redis", 6379),
    "rediss": ("redis", 6379),
    "memcached": ("memcached", 11211),
}
_URL_FORMS = "redis://[:password@]host[:port][/db], rediss://… (TLS) or memcached://host[:port]"
_GLOB = re.compile(r"([*?\[\]\\])")
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}
_MESSAGE_LIMIT = 300
_STATS_LINES = 1000
"""A `stats` reply longer than this is not memcached's."""
_SOCKET_GRACE = 1.0
"""redis-py's socket timeouts are this much longer than the connection's timeout, which bounds each run."""
_CLIENT_NAME = "handrail-flush-cache"
"""Shown in `CLIENT LIST`, so whoever runs the server can tell who flushed it."""


class FlushCacheParams(ActionParams):
    """`pattern` deletes matching keys with SCAN + UNLINK (never KEYS); without it, FLUSHDB."""

    backend: _Backend = "redis"
    connection: str = "default"
    """A cache connection named in handrail.yaml."""
    pattern: str | None = Field(default=None, min_length=1)
    db: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _memcached_flushes_everything(self) -> Self:
        if self.backend == "memcached" and self.pattern is not None:
            raise ValueError("memcached cannot match keys: drop `pattern` (flush_all empties the whole server)")
        if self.backend == "memcached" and self.db is not None:
            raise ValueError("`db` applies to redis only")
        return self


class CacheConnection(StrictModel):
    """A cache server: a redis://, rediss:// or memcached:// URL.

    The URL may hold a password, so it is a secret: give it as `${SESSIONS_REDIS_URL}`.
    """

    url: SecretStr
    timeout: Duration = 10.0
    """The longest one flush may take (connecting included); the step's timeout when that is shorter."""

    @field_validator("url")
    @classmethod
    def _cache_url(cls, url: SecretStr) -> SecretStr:
        # the messages never quote the URL: it may hold a password
        problem = _url_problem(url.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return url


@dataclass(frozen=True, slots=True)
class _Plan:
    """One run, resolved: which cache, which db, which pattern (escaped), and how to name it."""

    name: str
    connection: CacheConnection
    backend: _Backend
    host: str
    port: int
    db: int
    pattern: str | None
    shown: str
    """The URL with the password replaced by `***` and without its query."""
    secrets: tuple[str, ...]

    def explain(self, what: BaseException | str) -> str:
        """`cache 'x' (url): what went wrong`, without the password."""
        text = what if isinstance(what, str) else _describe_error(what)
        message = f"cache {self.name!r} ({self.shown}): {text}"
        return redact(message, self.secrets)


@dataclass(slots=True)
class _Progress:
    """How far a SCAN + UNLINK run got; kept outside the timeout so a cut-off run still reports it."""

    scans: int = 0
    named: int = 0
    """Keys named to UNLINK (SCAN may return a key twice; UNLINK counts it once)."""
    unlinked: int = 0
    limited: bool = False


class FlushCacheAction:
    """Runs `flush_cache` actions: one redis.asyncio client per connection and db, reused until `aclose`."""

    def __init__(
        self, caches: Mapping[str, CacheConnection], *, max_keys: int = 100_000, scan_count: int = 1000
    ) -> None:
        if max_keys <= 0:
            raise ValueError("max_keys must be positive")
        if scan_count <= 0:
            raise ValueError("scan_count must be positive")
        self._caches = caches
        self._max_keys = max_keys
        self._scan_count = scan_count
        self._clients: dict[tuple[str, int], Redis] = {}

    def describe(self, params: FlushCacheParams, context: ActionContext) -> str:
        """`FLUSHDB ASYNC on redis://…/2 (cache 'x')`, the SCAN + UNLINK with its pattern, or `flush_all`."""
        plan = self._plan(params, context)
        where = f"on {plan.shown} (cache {plan.name!r})"
        if plan.backend == "memcached":
            return f"flush_all {where}"
        if plan.pattern is None:
            return f"FLUSHDB ASYNC {where}"
        return (
            f"SCAN 0 MATCH {_quoted(plan.pattern)} COUNT {self._scan_count} + UNLINK"
            f" (at most {self._max_keys} keys) {where}"
        )

    def scope(self, params: FlushCacheParams, context: ActionContext) -> ActionScope:
        """`redis:<connection>/<db>` or `memcached:<connection>`; the connection is what `caches` allows."""
        name, connection, backend = self._connection(params)
        if backend == "memcached":
            return ActionScope(target=f"memcached:{name}", cache=name)
        return ActionScope(target=f"redis:{name}/{_db(params, connection)}", cache=name)

    async def execute(self, params: FlushCacheParams, context: ActionContext) -> ActionOutcome:
        """Flush once within the shorter of the connection's timeout and the step's."""
        plan = self._plan(params, context)
        budget = min(plan.connection.timeout, context.timeout)
        if plan.backend == "memcached":
            return await _flush_memcached(plan, budget)
        client = self._client(plan)
        if plan.pattern is None:
            return await _flush_db(client, plan, budget)
        return await self._unlink_matching(client, plan, plan.pattern, budget)

    async def aclose(self) -> None:
        """Close every client and its connection pool."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # -- resolving ------------------------------------------------------------------------

    def _connection(self, params: FlushCacheParams) -> tuple[str, CacheConnection, _Backend]:
        name = params.connection
        connection = self._caches.get(name)
        if connection is None:
            known = ", ".join(repr(known) for known in sorted(self._caches)) or "none"
            raise ActionError(f"no cache connection {name!r} (configure `caches:` in handrail.yaml; known: {known})")
        backend = _SCHEMES[urlsplit(connection.url.get_secret_value()).scheme][0]
        if backend != params.backend:
            raise ActionError(
                f"cache {name!r} is a {backend} connection, but the action says `backend: {params.backend}`"
            )
        if backend == "memcached" and params.pattern is not None:
            raise ActionError(f"cache {name!r}: memcached cannot match keys; drop `pattern` to flush the whole server")
        if backend == "memcached" and params.db is not None:
            raise ActionError(f"cache {name!r}: `db` applies to redis only")
        return name, connection, backend

    def _plan(self, params: FlushCacheParams, context: ActionContext) -> _Plan:
        name, connection, backend = self._connection(params)
        pattern = None
        if params.pattern is not None:
            try:
                pattern = _render_glob(params.pattern, context.template)
            except TemplateError as exc:
                raise ActionError(f"flush_cache pattern: {exc}") from exc
        url = connection.url.get_secret_value()
        parts = urlsplit(url)
        default_port = _SCHEMES[parts.scheme][1]
        host = parts.hostname or ""
        port = parts.port or default_port
        db = _db(params, connection) if backend == "redis" else 0
        netloc = f"[{host}]" if ":" in host else host
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{netloc}"
        elif parts.username:
            netloc = f"{parts.username}@{netloc}"
        shown = f"{parts.scheme}://{netloc}:{port}" + (f"/{db}" if backend == "redis" else "")
        return _Plan(name, connection, backend, host, port, db, pattern, shown, tuple(url_secrets(url)))

    def _client(self, plan: _Plan) -> Redis:
        client = self._clients.get((plan.name, plan.db))
        if client is None:
            options: dict[str, Any] = dict(parse_url(plan.connection.url.get_secret_value()))
            # only a backstop: the run's own deadline (never longer than the connection's timeout) comes first,
            # so a timeout always reads as the limit that was set, not as whichever of two equal deadlines won
            timeout = plan.connection.timeout + _SOCKET_GRACE
            options.update(
                db=plan.db,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # the engine owns retries: a failed run is an outcome, not something to repeat here
                retry=Retry(NoBackoff(), 0),
                client_name=_CLIENT_NAME,
            )
            client = Redis.from_pool(ConnectionPool(**options))
            self._clients[(plan.name, plan.db)] = client
        return client

    # -- Redis ----------------------------------------------------------------------------

    async def _unlink_matching(self, client: Redis, plan: _Plan, pattern: str, budget: float) -> ActionOutcome:
        progress = _Progress()
        try:
            async with asyncio.timeout(budget):
                cursor = 0
                while True:
                    cursor, keys = await client.scan(cursor, match=pattern, count=self._scan_count)
                    progress.scans += 1
                    room = self._max_keys - progress.named
                    batch = keys[:room]
                    if batch:
                        progress.unlinked += int(await client.unlink(*batch))
                        progress.named += len(batch)
                    if len(keys) > room or (progress.named >= self._max_keys and cursor != 0):
                        progress.limited = True
                        break
                    if cursor == 0:
                        break
        except (RedisError, OSError, TimeoutError) as exc:
            failure = f"timed out after {budget:g}s" if _timed_out(exc) else _describe_error(exc)
            if progress.scans:
                done = f"{_keys(progress.unlinked)} matching {_quoted(pattern)}"
                failure += f"; it had unlinked at least {done}; more may remain"
            return ActionOutcome(False, plan.explain(failure), self._report(plan, pattern, progress))
        message = f"unlinked {_keys(progress.unlinked)} matching {_quoted(pattern)}"
        if progress.limited:
            message += f" (stopped at the limit of {self._max_keys}; more may remain)"
        return ActionOutcome(True, message, self._report(plan, pattern, progress))

    def _report(self, plan: _Plan, pattern: str, progress: _Progress) -> str:
        lines = [
            f"cache {plan.name!r}: {plan.shown}",
            f"SCAN MATCH {_quoted(pattern)} COUNT {self._scan_count}: {_count(progress.scans, 'call')}",
            f"UNLINK: {_keys(progress.named)} named, {progress.unlinked} of them unlinked",
        ]
        if progress.limited:
            lines.append(f"stopped at the limit of {self._max_keys} keys (max_keys); more may remain")
        return "\n".join(lines)


def _render_glob(source: str, context: Mapping[str, object]) -> str:
    """A Redis glob pattern whose inserted values are escaped, so each matches only itself."""
    rendered = ""
    for part in parse_template(source).parts:
        if isinstance(part, str):
            rendered += part
        else:
            # render_text formats the value (and words its errors) exactly as every other template does
            rendered += _GLOB.sub(r"\\\1", render_text(f"{{{{ {part.expression.source} }}}}", context))
    return rendered


async def _flush_db(client: Redis, plan: _Plan, budget: float) -> ActionOutcome:
    sent = False
    try:
        async with asyncio.timeout(budget):
            held = int(await client.dbsize())
            sent = True
            await client.flushdb(asynchronous=True)
    except (RedisError, OSError, TimeoutError) as exc:
        failure = f"timed out after {budget:g}s" if _timed_out(exc) else _describe_error(exc)
        if sent:
            failure += " (FLUSHDB was sent; whether it took effect is unknown)"
        return ActionOutcome(False, plan.explain(failure))
    output = f"cache {plan.name!r}: {plan.shown}\nDBSIZE: {held}\nFLUSHDB ASYNC: OK"
    return ActionOutcome(True, f"flushed db {plan.db} (it held {_keys(held)})", output)


# -- memcached ----------------------------------------------------------------------------


async def _flush_memcached(plan: _Plan, budget: float) -> ActionOutcome:
    writer: asyncio.StreamWriter | None = None
    items: int | None = None
    sent = False
    try:
        async with asyncio.timeout(budget):
            reader, writer = await asyncio.open_connection(plan.host, plan.port)
            writer.write(b"stats\r\n")
            await writer.drain()
            items = await _read_stats(reader)
            writer.write(b"flush_all\r\n")
            sent = True
            await writer.drain()
            reply = await reader.readline()
    except (OSError, TimeoutError, ValueError) as exc:
        failure = f"timed out after {budget:g}s" if _timed_out(exc) else _describe_error(exc)
        if sent:
            failure += " (flush_all was sent; whether it took effect is unknown)"
        return ActionOutcome(False, plan.explain(failure))
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
    answer = _line(reply)
    if answer != "OK":
        said = f"answered {answer!r}" if answer else "closed the connection without answering"
        return ActionOutcome(False, plan.explain(f"flush_all refused: the server {said}"))
    held = "" if items is None else f" (it held {_count(items, 'item')})"
    output = f"cache {plan.name!r}: {plan.shown}\ncurr_items: {'?' if items is None else items}\nflush_all: OK"
    return ActionOutcome(True, f"flushed memcached{held}", output)


async def _read_stats(reader: asyncio.StreamReader) -> int | None:
    """`curr_items` from a `stats` reply; None when the server answers it with an error instead."""
    items = None
    for _ in range(_STATS_LINES):
        line = _line(await reader.readline())
        if line == "END":
            return items
        if not line.startswith("STAT "):
            return None  # an error is one line, so the next reply still starts on a line of its own
        name, _, value = line.removeprefix("STAT ").partition(" ")
        if name == "curr_items" and value.isdigit():
            items = int(value)
    raise ValueError("the stats reply does not end")


# -- helpers ------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    """What is wrong with a cache URL, in words that never quote it; None if nothing."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        return f"`url` must be {_URL_FORMS}"
    try:
        parts.port  # noqa: B018 — urlsplit checks the port only when asked
    except ValueError:
        return "the port in `url` is not a number from 0 to 65535"
    if not parts.hostname:
        return f"`url` names no host; write {_URL_FORMS}"
    if _SCHEMES[parts.scheme][0] == "memcached":
        if parts.username is not None or parts.password is not None:
            return "memcached's text protocol has no authentication: drop the user and password from `url`"
        if parts.path not in ("", "/") or parts.query:
            return "a memcached `url` is memcached://host[:port], without a path or a query"
        return None
    if parts.path not in ("", "/") and not re.fullmatch(r"/\d+", parts.path):
        return "the path of a redis `url` is the db number, like /0"
    try:
        parse_url(url)
    except ValueError as exc:
        return f"`url`: {exc}"  # redis-py names the query option, never the password
    return None


def _db(params: FlushCacheParams, connection: CacheConnection) -> int:
    """The params' `db`, else the URL's (`/2` or `?db=2`), else 0."""
    if params.db is not None:
        return params.db
    return int(parse_url(connection.url.get_secret_value()).get("db") or 0)


def _timed_out(exc: BaseException) -> bool:
    # redis-py's socket timeout is a backstop just past the run's deadline: either way the run ran out of time
    return isinstance(exc, TimeoutError | RedisTimeoutError)


def _describe_error(exc: BaseException) -> str:
    """What the server (or the network) said, on one line."""
    if isinstance(exc, AuthenticationError):
        text = f"authentication failed: {exc}"
    elif isinstance(exc, RedisError):
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "…"


def _line(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n")[:_MESSAGE_LIMIT]


def _quoted(pattern: str) -> str:
    """In single quotes as redis-cli reads them (`\\'` for a quote); control characters as `\\xNN`."""
    return "'" + pattern.translate(_CONTROL).replace("'", "\\'") + "'"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _keys(count: int) -> str:
    return _count(count, "key")
