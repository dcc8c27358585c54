"""log_search: count and sample matching log lines in files or in Loki.

`backend: file` globs `paths` and reads each file from its end backwards, so only the tail that
can fall in the window [now - window, now] is read (at most `max_bytes` over all files, 64 MiB by
default). A line's time comes from a leading timestamp:

- ISO 8601 / RFC 3339, with `T` or a space, optional fraction (`.` or `,`) and zone:
  `2026-11-26T14:03:01.123Z`, `2026-11-26 14:03:01,123`, `[2026-11-26 14:03:01+01:00]`;
- syslog `Nov 26 14:03:01`, in the current year (the previous one if that would be in the future);
- a JSON line's `time`, `ts`, `timestamp` or `@timestamp` field (ISO 8601 text, or Unix seconds,
  milliseconds, microseconds or nanoseconds).

Times without a zone are UTC. Lines timestamped outside the window don't count. Lines without a
timestamp (stack traces, continuation lines, plain-text logs) cannot be placed, so they count
when they are read: reading a file stops at the first timestamped line from before the window
(allowing a minute of disorder), and a file last modified before the window is skipped. A file
without any timestamps is therefore read whole (up to the byte cap) while it is being written to.

`pattern` is a substring, `regex` an RE2 expression (linear time). `{{ labels.x }}` is inserted
into `paths` as a literal file name part (a value with `/` or `..` is refused, so an alert cannot
choose another file), into `pattern` as text, and into `regex` escaped.

`backend: loki` runs the LogQL `query` over `/loki/api/v1/query_range` with `direction=backward`
and `limit`, so `count` is the number of entries Loki returned: at most `limit`, and the message
says so when the limit is reached. Label values are escaped for LogQL strings like PromQL's.

In both backends `samples` are the newest matching lines first, at most `limit`, stripped.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, ClassVar, Literal, Self

import httpx
import re2
from pydantic import Field, model_validator

from handrail import __version__
from handrail.diagnostics.base import HttpConnection, Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.redaction import redact
from handrail.runbook.model import Duration
from handrail.runbook.template import render_promql, render_text

__all__ = ["BUDGET_SHARE", "DEFAULT_CONNECTION", "MAX_BYTES", "LogSearchParams", "LogSearchProbe"]

DEFAULT_CONNECTION = "default"
MAX_BYTES = 64 * 1024 * 1024
"""Bytes read from log files per search, over all files, by default."""
BUDGET_SHARE = 0.9
"""The share of the step's timeout the search may take, so the probe answers before the step times out."""
QUERY_RANGE = "/loki/api/v1/query_range"
_BLOCK = 64 * 1024
_DISORDER = timedelta(minutes=1)
"""How far before the window a timestamped line may be and reading still goes on (interleaved writers)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SNIPPET = 200
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_USERINFO = re.compile(r"^(https?://)[^/@]*@", re.IGNORECASE)
_ISO = re.compile(
    r"\[?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_SYSLOG = re.compile(r"([A-Z][a-z]{2}) ([ \d]?\d) (\d{2}):(\d{2}):(\d{2})\b")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: index for index, name in enumerate(_MONTH_NAMES, 1)}
_JSON_TIME_FIELDS = ("time", "ts", "timestamp", "@timestamp")


class LogSearchParams(ProbeParams):
    """`backend: file` reads `paths` (globs) for `pattern` or `regex`; `backend: loki` runs `query`."""

    backend: Literal["file", "loki"] = "file"
    paths: list[str] = Field(default_factory=list)
    pattern: str | None = None
    regex: str | None = None
    query: str | None = None
    window: Duration = 900.0
    limit: int = Field(default=20, gt=0, le=1000)
    connection: str | None = None

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "count": "how many lines matched within the window",
        "samples": "the newest `limit` matching lines, newest first",
        "first_seen": "when the first match was logged (ISO 8601; null when unknown)",
        "last_seen": "when the last match was logged (ISO 8601; null when unknown)",
    }

    @model_validator(mode="after")
    def _check_backend(self) -> Self:
        if self.backend == "file" and not self.paths:
            raise ValueError("the file backend needs `paths` (globs of log files)")
        if self.backend == "file" and (self.pattern is None) == (self.regex is None):
            raise ValueError("the file backend needs exactly one of `pattern` (substring) or `regex`")
        if self.backend == "loki" and not self.query:
            raise ValueError("the loki backend needs `query` (LogQL)")
        return self


@dataclass(slots=True)
class _Found:
    """Matching lines: how many, the newest few as (sort time, line), and the times seen."""

    limit: int
    count: int = 0
    samples: list[tuple[datetime, int, str]] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, line: str, stamp: datetime | None, order: datetime, *, sample: bool = True) -> None:
        """Count a match; keep it as a sample (sorted by `order`, newest first) unless told not to."""
        self.count += 1
        if sample:
            self.samples.append((order, len(self.samples), line.strip()))
        if stamp is not None:
            self.first = stamp if self.first is None else min(self.first, stamp)
            self.last = stamp if self.last is None else max(self.last, stamp)

    def values(self) -> dict[str, Any]:
        newest = sorted(self.samples, key=lambda sample: (-_ns(sample[0]), sample[1]))[: self.limit]
        return {
            "count": self.count,
            "samples": [line for _, _, line in newest],
            "first_seen": _iso(self.first),
            "last_seen": _iso(self.last),
        }


class LogSearchProbe:
    """Runs `log_search` diagnostics over log files or Loki; one HTTP client per Loki connection."""

    def __init__(
        self,
        loki: Mapping[str, HttpConnection],
        *,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._loki = loki
        self._clock = clock or _utcnow
        self._transport = transport
        self._max_bytes = max_bytes
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def observe(self, params: LogSearchParams, context: ProbeContext) -> Observation:
        """Count and sample the lines that match within the window (see the module docstring)."""
        now = self._clock()
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        budget = context.timeout * BUDGET_SHARE
        if params.backend == "loki":
            return await self._search_loki(params, context, now, budget)
        paths = [_render_path(path, context) for path in params.paths]
        matches = _matcher(params, context)
        search = _FileSearch(now - timedelta(seconds=params.window), now, params.limit, self._max_bytes, budget)
        try:
            async with asyncio.timeout(context.timeout):
                found, files = await asyncio.to_thread(search.run, paths, matches)
        except TimeoutError as exc:
            raise ProbeError(f"reading the log files took longer than {context.timeout:g}s") from exc
        message = _message(found, params)
        message += f" ({files} file{'' if files == 1 else 's'})"
        if search.capped:
            message += f"; stopped after reading {_size(self._max_bytes)}"
        return Observation(values=found.values(), message=message)

    async def aclose(self) -> None:
        """Close every HTTP client this probe opened."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # -- Loki ----------------------------------------------------------------------------

    async def _search_loki(
        self, params: LogSearchParams, context: ProbeContext, now: datetime, budget: float
    ) -> Observation:
        name = params.connection or DEFAULT_CONNECTION
        connection = self._loki.get(name)
        if connection is None:
            raise ProbeError(f"no Loki connection '{name}' (configure `loki:` in handrail.yaml)")
        assert params.query is not None  # the model requires it for this backend
        try:
            query = render_promql(params.query, context.template)
        except TemplateError as exc:
            raise ProbeError(f"query: {exc}") from exc
        end = _ns(now)
        # https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time
        form = {
            "query": query,
            "start": str(end - round(params.window * 1e9)),
            "end": str(end),
            "limit": str(params.limit),
            "direction": "backward",
        }
        timeout = min(connection.timeout, budget)
        where = f"Loki '{name}' at {_USERINFO.sub(_scheme, connection.url)}"
        try:
            body = await self._query(name, connection, form, timeout=timeout, where=where)
            found = _parse(body, params.limit, where=where)
        except ProbeError as exc:
            # the unredacted error is not chained: a logged traceback would show it
            raise ProbeError(redact(str(exc), connection.secrets())) from exc.__cause__
        return Observation(values=found.values(), message=_message(found, params, loki=True))

    def _client(self, name: str, connection: HttpConnection) -> httpx.AsyncClient:
        client = self._clients.get(name)
        if client is None:
            options = connection.client_options()
            options["headers"] = {"User-Agent": f"handrail/{__version__} log_search", **options["headers"]}
            client = self._clients[name] = httpx.AsyncClient(**options, transport=self._transport)
        return client

    async def _query(
        self, name: str, connection: HttpConnection, form: dict[str, str], *, timeout: float, where: str
    ) -> Any:
        client = self._client(name, connection)
        try:
            # httpx's timeout bounds each phase; asyncio's bounds the whole exchange (a trickling server).
            async with asyncio.timeout(timeout):
                response = await client.get(QUERY_RANGE, params=form, timeout=timeout)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProbeError(f"{where} did not answer within {timeout:g}s") from exc
        except httpx.TransportError as exc:
            raise ProbeError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from exc
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        if not response.is_success:
            # Loki answers bad queries with 400 and the error as plain text
            raise ProbeError(f"{where} answered {status}: {_snippet(response.text)}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProbeError(
                f"{where} answered {status} with a body that is not JSON: {_snippet(response.text)}"
            ) from exc


# -- Loki responses -------------------------------------------------------------------------


def _parse(body: Any, limit: int, *, where: str) -> _Found:
    """The entries of a `streams` result: `{"data": {"resultType": "streams", "result": [...]}}`."""
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
        error = body.get("error") if isinstance(body, dict) else None
        detail = f": {_snippet(str(error))}" if error else ""
        raise ProbeError(f"unexpected response from {where}: not a successful query result{detail}")
    data = body["data"]
    if data.get("resultType") != "streams":
        raise ProbeError(
            f"{where}: the query returned {data.get('resultType')!r}, not log lines; "
            "log_search needs a log query (a metric query belongs in prometheus_query or a Loki ruler)"
        )
    result = data.get("result")
    if not isinstance(result, list):
        raise ProbeError(f"unexpected response from {where}: `data.result` is not a list")
    found = _Found(limit)
    for index, stream in enumerate(result):
        values = stream.get("values") if isinstance(stream, dict) else None
        if not isinstance(values, list):
            raise ProbeError(f"unexpected response from {where}: `data.result[{index}].values` is not a list")
        for entry in values:
            # [ "<unix ns>", "<line>" ], with a third element (structured metadata) in newer versions
            if not (isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[1], str)):
                raise ProbeError(f"unexpected response from {where}: an entry is not a [time, line] pair")
            try:
                stamp = _from_ns(int(entry[0]))
            except (TypeError, ValueError, OverflowError) as exc:
                raise ProbeError(f"unexpected response from {where}: {entry[0]!r} is not a time in ns") from exc
            found.add(entry[1], stamp, stamp)
    return found


# -- files ----------------------------------------------------------------------------------


class _FileSearch:
    """One search over log files, run in a worker thread; stops at `budget` seconds."""

    def __init__(self, start: datetime, end: datetime, limit: int, max_bytes: int, budget: float) -> None:
        self.start, self.end = start, end
        self.stop_before = start - _DISORDER
        self.limit = limit
        self.remaining = max_bytes
        self.capped = False
        self.deadline = time.monotonic() + budget
        self.budget = budget

    def run(self, patterns: list[str], matches: Callable[[str], bool]) -> tuple[_Found, int]:
        files = _files(patterns)
        found = _Found(self.limit)
        for path in files:
            try:
                with open(path, "rb") as handle:
                    modified = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC)
                    if modified < self.start:
                        continue  # nothing in it was written within the window
                    self._search(handle, path, modified, matches, found)
            except OSError as exc:
                raise ProbeError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return found, len(files)

    def _search(
        self, handle: BinaryIO, path: str, modified: datetime, matches: Callable[[str], bool], found: _Found
    ) -> None:
        kept = 0  # samples taken from this file: the newest `limit` are all that can be shown
        newer: datetime | None = None  # the time of the nearest timestamped line after this one
        for raw in self._lines_backwards(handle, path):
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not line.strip():
                continue
            stamp = _timestamp(line, self.end)
            if stamp is not None:
                if stamp < self.stop_before:
                    return
                newer = stamp
                if not self.start <= stamp <= self.end:
                    continue
            if not matches(line):
                continue
            found.add(line, stamp, newer or modified, sample=kept < self.limit)
            kept += 1

    def _lines_backwards(self, handle: BinaryIO, path: str) -> Iterator[bytes]:
        """The file's lines from the last to the first, reading blocks from the end."""
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            if self.remaining <= 0:
                self.capped = True
                return
            if time.monotonic() > self.deadline:
                raise ProbeError(f"reading {path} took longer than {self.budget:g}s")
            size = min(_BLOCK, position, self.remaining)
            position -= size
            handle.seek(position)
            block = handle.read(size) + rest
            self.remaining -= size
            lines = block.split(b"\n")
            rest = lines[0]
            yield from reversed(lines[1:])
        yield rest


def _files(patterns: list[str]) -> list[str]:
    files: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if path not in files and os.path.isfile(path):
                files.append(path)
    if not files:
        raise ProbeError(f"no log file matches {', '.join(patterns)}")
    return files


def _render_path(path: str, context: ProbeContext) -> str:
    """A glob with each inserted value as a literal part of a file name (no `/`, no `..`, no wildcards)."""

    def insert(value: str) -> str:
        if "/" in value or ".." in value or "\0" in value or not value:
            raise ProbeError(f"paths: {path!r}: the inserted value {value!r} could name another file; refused")
        return glob.escape(value)

    return _render(path, context, insert, "paths")


def _matcher(params: LogSearchParams, context: ProbeContext) -> Callable[[str], bool]:
    if params.pattern is not None:
        needle = _render(params.pattern, context, lambda value: value, "pattern")
        return lambda line: needle in line
    assert params.regex is not None  # the model requires one of the two
    source = _render(params.regex, context, re2.escape, "regex")
    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(source, options)
    except re2.error as exc:
        raise ProbeError(f"regex: {source!r} is not a valid RE2 expression: {exc}") from exc
    return lambda line: compiled.search(line) is not None


def _render(source: str, context: ProbeContext, insert: Callable[[str], str], where: str) -> str:
    """`source` with each `{{ ... }}` replaced by `insert(value)`."""
    try:
        render_text(source, context.template)  # every placeholder well-formed and with a value
        return _PLACEHOLDER.sub(lambda match: insert(render_text(match.group(0), context.template)), source)
    except TemplateError as exc:
        raise ProbeError(f"{where}: {exc}") from exc


# -- timestamps -----------------------------------------------------------------------------


def _timestamp(line: str, now: datetime) -> datetime | None:
    """The time at the start of `line` (see the module docstring), or None."""
    if line.startswith("{"):
        return _json_time(line)
    if match := _ISO.match(line):
        return _iso_time(match)
    if match := _SYSLOG.match(line):
        return _syslog_time(match, now)
    return None


def _iso_time(match: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    if fraction:
        stamp += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        stamp -= offset if zone[0] == "+" else -offset
    return stamp


def _syslog_time(match: re.Match[str], now: datetime) -> datetime | None:
    month, day, hour, minute, second = match.groups()
    if month not in _MONTHS:
        return None
    for year in (now.year, now.year - 1):  # in January, December's lines are last year's
        try:
            stamp = datetime(year, _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
        except ValueError:
            continue  # Feb 29 in a year without one
        if stamp <= now + timedelta(days=1):
            return stamp
    return None


def _json_time(line: str) -> datetime | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    for name in _JSON_TIME_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and (match := _ISO.fullmatch(value.strip())):
            return _iso_time(match)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _epoch_time(value)
    return None


def _epoch_time(value: float) -> datetime | None:
    """Unix seconds, or milli-, micro- or nanoseconds, told apart by size."""
    for scale in (1, 1e3, 1e6, 1e9):
        if abs(value) < 1e11 * scale:
            try:
                return _EPOCH + timedelta(seconds=value / scale)
            except OverflowError:
                return None
    return None


def _ns(stamp: datetime) -> int:
    """Unix nanoseconds, computed exactly (a float of nanoseconds would round)."""
    return (stamp - _EPOCH) // timedelta(microseconds=1) * 1000


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _iso(stamp: datetime | None) -> str | None:
    if stamp is None:
        return None
    stamp = stamp.astimezone(UTC)
    if stamp.microsecond == 0:
        spec = "seconds"
    elif stamp.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return stamp.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- text -----------------------------------------------------------------------------------


def _message(found: _Found, params: LogSearchParams, *, loki: bool = False) -> str:
    count = found.count
    message = f"{count} matching line{'' if count == 1 else 's'} in the last {_duration(params.window)}"
    if loki and count >= params.limit:
        message += f" (Loki's answer stops at limit {params.limit}; there may be more)"
    if found.last is not None:
        message += f"; last at {_iso(found.last)}"
    return message


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count % (1024 * 1024) == 0 else f"{count} bytes"


def _scheme(match: re.Match[str]) -> str:
    return match.group(1)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"
