"""prometheus_query: an instant or range query over the Prometheus HTTP API.

The response format is the one documented at
https://prometheus.io/docs/prometheus/latest/querying/api/ (`status`, `data.resultType`,
`data.result`, `errorType`, `error`, `warnings`). Series keep the order Prometheus returns them in,
so `value` is the first series' value: a runbook that cares which series wins aggregates in PromQL
(`sum(...)`, `max(...)`, `topk(1, ...)`).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from handrail.diagnostics.base import (
    History,
    HistorySeries,
    HttpConnection,
    Observation,
    ProbeContext,
    ProbeParams,
)
from handrail.errors import ProbeError, TemplateError
from handrail.redaction import redact
from handrail.runbook.model import Duration
from handrail.runbook.template import render_promql

__all__ = ["PrometheusQueryParams", "PrometheusQueryProbe"]

DEFAULT_CONNECTION = "default"
POST_ABOVE = 2000
"""Queries longer than this go as a form-encoded POST: URLs that long break proxies (the API takes both)."""
_SNIPPET = 200
_USERINFO = re.compile(r"^(https?://)[^/@]*@", re.IGNORECASE)


class PrometheusQueryParams(ProbeParams):
    """`query` in PromQL; with `range` (and optional `step`) it becomes a range query for trends."""

    query: str
    """PromQL; `{{ labels.x }}` inside a string literal is escaped, so an alert cannot rewrite the query."""
    range: Duration | None = None
    """Query the last `range` (like 1h) instead of one instant; the values come from each series' last sample."""
    step: Duration | None = None
    """Resolution of a range query (default: range / 60, at least 1s)."""
    connection: str | None = None
    """A Prometheus connection named in handrail.yaml (default: the default one, or PROMETHEUS_URL)."""

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "value": "the first series' value, a number (its last sample for ranges; null when the result is empty)",
        "values": "every series' value (the last sample of each, for ranges), a list of numbers",
        "series": "every series, in Prometheus' order: {labels, value}",
        "count": "how many series came back",
        "sum": "the sum of `values` (0 when empty)",
        "min": "the smallest of `values`, NaN ignored (null when empty)",
        "max": "the largest of `values`, NaN ignored (null when empty)",
        "avg": "the mean of `values` (null when empty)",
        "empty": "true when the query returned no series",
    }
    RANGE_PROVIDES: ClassVar[Mapping[str, str]] = {
        "samples": "for ranges: the first series' samples, [{time, value}] with time in unix seconds",
        "first": "for ranges: the first series' first value",
        "last": "for ranges: the first series' last value",
        "delta": "for ranges: last - first of the first series",
    }

    def provided_names(self) -> Mapping[str, str]:
        return {**self.PROVIDES, **self.RANGE_PROVIDES} if self.range is not None else self.PROVIDES


@dataclass(frozen=True, slots=True)
class _Series:
    """One series of a result: its labels and its samples as (unix seconds, value)."""

    labels: dict[str, str]
    samples: list[tuple[float, float]]


class PrometheusQueryProbe:
    """Runs `prometheus_query` diagnostics; one HTTP client per named connection, reused."""

    def __init__(
        self,
        connections: Mapping[str, HttpConnection],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connections = connections
        self._transport = transport
        self._clock = clock
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def observe(self, params: PrometheusQueryParams, context: ProbeContext) -> Observation:
        """Run the query and summarise its series (see `PrometheusQueryParams.PROVIDES`)."""
        if params.range is None:
            _, series, warnings = await self._query(params, context, "/api/v1/query", {})
            return _observe(series, params, warnings)
        now = self._clock()
        step = params.step or max(1.0, params.range / 60)
        window = {"start": _number(now - params.range), "end": _number(now), "step": _number(step)}
        _, series, warnings = await self._query(params, context, "/api/v1/query_range", window)
        return _observe(series, params, warnings)

    async def history(
        self, params: PrometheusQueryParams, context: ProbeContext, *, start: float, end: float, step: float
    ) -> History:
        """The same expression as a range query over `start`..`end` (the incident's charts)."""
        window = {"start": _number(start), "end": _number(end), "step": _number(step)}
        query, series, warnings = await self._query(params, context, "/api/v1/query_range", window)
        kept = tuple(HistorySeries(item.labels, tuple(item.samples)) for item in series)
        return History(query, kept, tuple(warnings))

    async def _query(
        self, params: PrometheusQueryParams, context: ProbeContext, path: str, window: dict[str, str]
    ) -> tuple[str, list[_Series], list[str]]:
        """The query rendered and sent to `path` with `window`: the query as sent, its series and warnings."""
        name = params.connection or DEFAULT_CONNECTION
        connection = self._connections.get(name)
        if connection is None:
            raise ProbeError(
                f"no Prometheus connection '{name}' (configure `prometheus:` in handrail.yaml or set PROMETHEUS_URL)"
            )
        try:
            query = render_promql(params.query, context.template)
        except TemplateError as exc:
            raise ProbeError(f"query: {exc}") from exc
        timeout = min(connection.timeout, context.timeout)
        # Prometheus stops evaluating when we stop waiting (capped by its -query.timeout).
        form = {"query": query, **window, "timeout": _number(timeout)}
        where = f"Prometheus '{name}' at {_USERINFO.sub(_scheme, connection.url)}"
        try:
            response = await self._request(name, connection, path, form, timeout=timeout, where=where)
            series, warnings = _parse(_decode(response, where=where), where=where)
        except ProbeError as exc:
            # the original (unredacted) error is not chained: a logged traceback would show it
            raise ProbeError(redact(str(exc), connection.secrets())) from exc.__cause__
        return query, series, warnings

    async def aclose(self) -> None:
        """Close every HTTP client this probe opened."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, name: str, connection: HttpConnection) -> httpx.AsyncClient:
        client = self._clients.get(name)
        if client is None:
            client = httpx.AsyncClient(**connection.client_options(), transport=self._transport)
            self._clients[name] = client
        return client

    async def _request(
        self, name: str, connection: HttpConnection, path: str, form: dict[str, str], *, timeout: float, where: str
    ) -> httpx.Response:
        """GET `path` (or POST it, for long queries) within `timeout` seconds."""
        try:
            client = self._client(name, connection)
        except OSError as exc:  # ssl.SSLError too: a missing or unreadable caFile
            raise ProbeError(f"{where}: cannot set up TLS: {exc}") from exc
        try:
            # httpx's timeout bounds each phase; asyncio's bounds the whole exchange (a trickling server).
            async with asyncio.timeout(timeout):
                if len(form["query"]) > POST_ABOVE:
                    return await client.post(path, data=form, timeout=timeout)
                return await client.get(path, params=form, timeout=timeout)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProbeError(f"{where} did not answer within {_number(timeout)}s") from exc
        except httpx.TransportError as exc:
            raise ProbeError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:  # a body that cannot be decoded, too many redirects
            raise ProbeError(f"request to {where} failed: {type(exc).__name__}: {exc}") from exc


# -- the response -------------------------------------------------------------------------


def _decode(response: httpx.Response, *, where: str) -> dict[str, Any]:
    """The JSON object of an API response; Prometheus answers its errors (4xx, 5xx) in JSON too."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("status") in ("success", "error"):
        return body
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if not response.is_success:
        raise ProbeError(f"{where} answered {status}: {_snippet(response.text)}")
    what = "a body that is not JSON" if body is None else "JSON that is not a Prometheus API response"
    raise ProbeError(f"{where} answered {status} with {what}: {_snippet(response.text)}")


def _parse(body: dict[str, Any], *, where: str) -> tuple[list[_Series], list[str]]:
    """The series and warnings of a documented API response; `ProbeError` for an error or another shape."""
    warnings = [_one_line(str(warning)) for warning in _list(body.get("warnings", []), "warnings", where)]
    warnings += [_one_line(str(info)) for info in _list(body.get("infos", []), "infos", where)]
    if body["status"] == "error":
        message = f"{where}: {body.get('errorType', 'error')}: {_one_line(str(body.get('error', 'no error text')))}"
        raise ProbeError(message + _warnings(warnings))
    data = body.get("data")
    if not isinstance(data, dict):
        raise ProbeError(f"unexpected response from {where}: `data` is not an object")
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar":
        return [_Series({}, [_sample(result, "result", where)])], warnings
    if result_type == "string":
        raise ProbeError(f"{where}: the query returned a string ({_snippet(repr(result))}), not numbers")
    if result_type not in ("vector", "matrix"):
        raise ProbeError(f"unexpected response from {where}: resultType {result_type!r}")
    series = []
    for index, item in enumerate(_list(result, "result", where)):
        place = f"result[{index}]"
        if not isinstance(item, dict):
            raise ProbeError(f"unexpected response from {where}: {place} is not an object")
        if "histogram" in item or "histograms" in item:
            raise ProbeError(
                f"{where}: {place} holds native histograms, not numbers; "
                "query a number from them (histogram_quantile, histogram_count, histogram_sum)"
            )
        labels = _labels(item.get("metric", {}), f"{place}.metric", where)
        if result_type == "vector":
            samples = [_sample(item.get("value"), f"{place}.value", where)]
        else:
            raw = _list(item.get("values"), f"{place}.values", where)
            samples = [_sample(pair, f"{place}.values[{i}]", where) for i, pair in enumerate(raw)]
        if samples:
            series.append(_Series(labels, samples))
    return series, warnings


def _list(value: object, place: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProbeError(f"unexpected response from {where}: `{place}` is not a list")
    return value


def _labels(value: object, place: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ProbeError(f"unexpected response from {where}: `{place}` is not a map of label names to strings")
    return {str(key): item for key, item in value.items()}


def _sample(value: object, place: str, where: str) -> tuple[float, float]:
    """One `[unix seconds, "value"]` pair; the API writes values as strings ("NaN", "+Inf" included)."""
    if isinstance(value, list) and len(value) == 2:
        stamp, number = value
        if isinstance(stamp, int | float) and not isinstance(stamp, bool) and isinstance(number, str):
            try:
                return float(stamp), float(number)
            except ValueError:
                pass
    raise ProbeError(f'unexpected response from {where}: `{place}` is not a [time, "value"] pair')


# -- the observation ----------------------------------------------------------------------


def _observe(series: list[_Series], params: PrometheusQueryParams, warnings: list[str]) -> Observation:
    values = [item.samples[-1][1] for item in series]
    numbers = [value for value in values if not math.isnan(value)] or values
    total = sum(values, 0.0)
    found: dict[str, Any] = {
        "value": values[0] if values else None,
        "values": values,
        "series": [{"labels": item.labels, "value": item.samples[-1][1]} for item in series],
        "count": len(series),
        "sum": total,
        "min": min(numbers) if numbers else None,
        "max": max(numbers) if numbers else None,
        "avg": total / len(values) if values else None,
        "empty": not series,
    }
    if params.range is None:
        message = f"{len(series)} series; value {_show(values[0])}" if series else "no series"
        return Observation(found, message + _warnings(warnings))
    samples = series[0].samples if series else []
    first = samples[0][1] if samples else None
    last = samples[-1][1] if samples else None
    found |= {
        "samples": [{"time": stamp, "value": value} for stamp, value in samples],
        "first": first,
        "last": last,
        "delta": last - first if first is not None and last is not None else None,
    }
    message = f"range {_show_duration(params.range)}: "
    if first is None or last is None:
        message += "no series"
    else:
        message += f"first {_show(first)}, last {_show(last)} (Δ {_show(last - first, sign=True)})"
        if len(series) > 1:
            message += f"; {len(series)} series"
    return Observation(found, message + _warnings(warnings))


# -- text ---------------------------------------------------------------------------------


def _scheme(match: re.Match[str]) -> str:
    return match.group(1)


def _number(value: float) -> str:
    """A number the API reads as float seconds (it takes floats or Prometheus durations)."""
    return f"{value:.3f}".rstrip("0").rstrip(".") if value >= 0.001 else repr(value)


def _show(value: float, *, sign: bool = False) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.6g}"
    return f"+{text}" if sign and value >= 0 else text


def _show_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{_show(seconds)}s"


def _warnings(warnings: Sequence[str]) -> str:
    return f"; warnings: {'; '.join(warnings)}" if warnings else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _snippet(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"
