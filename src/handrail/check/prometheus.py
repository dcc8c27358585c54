"""PromQL and alert triggers against a Prometheus: metrics, labels, the query itself, the alerting rules.

Read-only, over the documented HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/):
the metric names with series in the last `LOOKBACK` (`/api/v1/label/__name__/values`), the label names
of one metric's series (`/api/v1/labels?match[]=`), an instant query (`/api/v1/query`) and the loaded
alerting rules (`/api/v1/rules?type=alert`). What one connection answered is asked once per run.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
import re2

from handrail.check.base import AlertTrigger, Finding, PromQuery, Unreachable
from handrail.check.promql import Selector, selectors
from handrail.check.subjects import PLACEHOLDER_CONTEXT
from handrail.diagnostics.base import HttpConnection
from handrail.errors import TemplateError
from handrail.redaction import redact, url_origin
from handrail.runbook.load import did_you_mean
from handrail.runbook.matcher import matcher_holds
from handrail.runbook.template import render_promql

__all__ = ["LOOKBACK", "PrometheusChecker"]

LOOKBACK = 3600.0
"""Seconds back in which a metric must have had a series to count as existing."""
_TIMEOUT = 10.0
_SHOWN = 300
_RELABELLING = ("label_replace", "label_join")
_PARSE_ERROR = re.compile(r"^(\d+):(\d+): parse error")
T = TypeVar("T")


class PrometheusChecker:
    """Checks `PromQuery` and `AlertTrigger` subjects on the configured Prometheus connections."""

    def __init__(
        self,
        connections: Mapping[str, HttpConnection],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connections = connections
        self._clock = clock
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._asked: dict[tuple[str, str], asyncio.Task[Any]] = {}

    async def check(self, subject: PromQuery | AlertTrigger) -> Sequence[Finding]:
        if isinstance(subject, AlertTrigger):
            return await self._alert(subject)
        return await self._query(subject)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # -- PromQL -----------------------------------------------------------------------------

    async def _query(self, subject: PromQuery) -> list[Finding]:
        name = subject.connection
        if name not in self._connections:
            return [_not_configured(name)]
        where = self.where(name)
        found = [finding for selector in selectors(subject.query) for finding in await self._selector(name, selector)]
        try:
            rendered = render_promql(subject.query, PLACEHOLDER_CONTEXT)
        except TemplateError as exc:  # lint reports a template it cannot render; nothing to ask then
            return [*found, Finding("HR603", f"the query cannot be rendered for {where}: {exc}")]
        body = await self._get(name, "/api/v1/query", {"query": rendered})
        if body.get("status") == "error":
            error = _one_line(f"{body.get('errorType', 'error')}: {body.get('error', '')}")
            offset = _error_offset(str(body.get("error", "")), subject.query) if rendered == subject.query else 0
            found.append(Finding("HR603", f"{where} refuses the query: {error}", offset))
        return found

    async def _selector(self, name: str, selector: Selector) -> list[Finding]:
        metric = selector.name
        if metric is None:
            return []
        where = self.where(name)
        names = await self._metric_names(name)
        if metric not in names:
            hint = did_you_mean(metric, names)
            return [
                Finding(
                    "HR601",
                    f"metric '{metric}' has no series on {where} in the last {LOOKBACK / 3600:g}h{hint}",
                    selector.offset,
                    metric,
                )
            ]
        labels = await self._label_names(name, metric)
        return [
            Finding(
                "HR602",
                f"no series of '{metric}' on {where} has the label '{matcher.label}'"
                f" (it has {', '.join(sorted(labels - {'__name__'})) or 'none'}){did_you_mean(matcher.label, labels)}",
                matcher.offset,
                matcher.label,
            )
            for matcher in selector.matchers
            if matcher.label not in labels and _needs_label(matcher.op, matcher.value, templated=matcher.templated)
        ]

    async def _metric_names(self, name: str) -> list[str]:
        async def ask() -> list[str]:
            body = await self._get(name, "/api/v1/label/__name__/values", {"start": self._since()})
            return [str(value) for value in _data(body, self.where(name), list)]

        return await self._once(name, "names", ask)

    async def _label_names(self, name: str, metric: str) -> set[str]:
        async def ask() -> set[str]:
            match = f'{{__name__="{_quote(metric)}"}}'
            body = await self._get(name, "/api/v1/labels", {"match[]": match, "start": self._since()})
            return {str(value) for value in _data(body, self.where(name), list)}

        return await self._once(name, f"labels:{metric}", ask)

    # -- alert triggers ---------------------------------------------------------------------

    async def _alert(self, subject: AlertTrigger) -> list[Finding]:
        name = subject.connection
        if name not in self._connections:
            return [_not_configured(name)]
        where = self.where(name)
        rules = await self._rules(name)
        matching = [rule for rule in rules if rule.get("name") == subject.alert_name]
        if not matching:
            hint = did_you_mean(subject.alert_name, sorted({str(rule.get("name")) for rule in rules}))
            return [
                Finding(
                    "HR604",
                    f"no alerting rule loaded on {where} defines the alert '{subject.alert_name}'{hint}",
                    at=("alertName",),
                )
            ]
        found = []
        for label, matcher in subject.labels.items():
            if not any([await self._could_carry(name, rule, label, matcher) for rule in matching]):
                found.append(
                    Finding(
                        "HR650",
                        f"no alerting rule '{subject.alert_name}' on {where} can give label '{label}'"
                        f" a value that matches '{matcher}'",
                        at=("labels", label),
                    )
                )
        return found

    async def _could_carry(self, name: str, rule: Mapping[str, Any], label: str, matcher: str) -> bool:
        """Whether an alert of `rule` could have a `label` that `matcher` takes.

        A label the rule sets is a fixed value (unless templated); any other comes from the series of its
        expression, so it exists only if a metric the expression reads has it (or a relabelling function
        writes it); a matcher that takes the empty string holds for an alert without the label.
        """
        if label == "alertname":
            return matcher_holds(matcher, str(rule.get("name")))
        static = rule.get("labels") or {}
        if label in static:
            value = str(static[label])
            return "{{" in value or matcher_holds(matcher, value)
        if matcher_holds(matcher, None):
            return True
        query = str(rule.get("query", ""))
        if any(function in query for function in _RELABELLING):
            return True
        metrics = {selector.name for selector in selectors(query) if selector.name is not None}
        names = set(await self._metric_names(name))
        for metric in metrics & names:
            if label in await self._label_names(name, metric):
                return True
        return False

    async def _rules(self, name: str) -> list[dict[str, Any]]:
        async def ask() -> list[dict[str, Any]]:
            body = await self._get(name, "/api/v1/rules", {"type": "alert"})
            data = _data(body, self.where(name), dict)
            groups = data.get("groups")
            if not isinstance(groups, list):
                groups = []
            return [
                rule
                for group in groups
                if isinstance(group, dict) and isinstance(group.get("rules"), list)
                for rule in group["rules"]
                if isinstance(rule, dict) and rule.get("type", "alerting") == "alerting"
            ]

        return await self._once(name, "rules", ask)

    # -- HTTP -------------------------------------------------------------------------------

    def where(self, name: str) -> str:
        """`Prometheus 'default' (http://host:9090)`: the system a finding names, without credentials."""
        return f"Prometheus '{name}' ({url_origin(self._connections[name].url)})"

    def _since(self) -> str:
        return f"{self._clock() - LOOKBACK:.3f}"

    async def _once(self, name: str, key: str, ask: Callable[[], Awaitable[T]]) -> T:
        """What `ask` answers, asked once per connection and key (a failure, `Unreachable`, is kept too)."""
        task = self._asked.get((name, key))
        if task is None:
            task = asyncio.ensure_future(ask())
            self._asked[(name, key)] = task
        result: T = await asyncio.shield(task)
        return result

    async def _get(self, name: str, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        connection = self._connections[name]
        where = self.where(name)
        client = self._clients.get(name)
        try:
            if client is None:
                client = self._clients[name] = httpx.AsyncClient(**connection.client_options())
            async with asyncio.timeout(min(connection.timeout, _TIMEOUT)):
                response = await client.get(path, params=params)
        except (TimeoutError, httpx.TimeoutException):
            raise Unreachable(where, f"no answer within {min(connection.timeout, _TIMEOUT):g}s") from None
        except (httpx.HTTPError, OSError) as exc:
            raise Unreachable(where, redact(f"{type(exc).__name__}: {exc}", connection.secrets())) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            status = f"HTTP {response.status_code}"
            raise Unreachable(where, redact(f"{status}: {_one_line(response.text)}", connection.secrets()))
        if body["status"] == "error" and path != "/api/v1/query":
            raise Unreachable(where, _one_line(f"{path}: {body.get('errorType')}: {body.get('error')}"))
        return body


def _data(body: Mapping[str, Any], where: str, kind: type[T]) -> T:
    data = body.get("data")
    if not isinstance(data, kind):
        raise Unreachable(where, f"unexpected answer: `data` is not a {kind.__name__}")
    return data


def _needs_label(op: str, value: str, *, templated: bool) -> bool:
    """Whether a matcher only holds for series that have the label: in PromQL a missing label is "" (so
    `=""`, `!="x"` and `=~".*"` hold without it)."""
    if templated:
        return op in ("=", "=~")
    if op in ("=", "!="):
        empty_holds = (value == "") == (op == "=")
    else:
        try:
            empty_holds = (re2.fullmatch(value, "") is not None) == (op == "=~")
        except re2.error:
            return False  # the server's answer to the query says what is wrong with the regex
    return not empty_holds


def _error_offset(error: str, query: str) -> int:
    """Where in the query a parse error stands (`1:28: parse error: ...`, line and column 1-based), else 0."""
    match = _PARSE_ERROR.match(error)
    if match is None:
        return 0
    line, column = int(match.group(1)), int(match.group(2))
    lines = query.split("\n")
    if not 1 <= line <= len(lines):
        return 0
    return min(sum(len(text) + 1 for text in lines[: line - 1]) + column - 1, len(query))


def _not_configured(name: str) -> Finding:
    return Finding(
        "HR607",
        f"no Prometheus connection '{name}' is configured (`prometheus:` in handrail.yaml, or PROMETHEUS_URL)",
    )


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
