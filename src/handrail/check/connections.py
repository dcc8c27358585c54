"""Connections a runbook names answer: a cache `PING`, a Loki query over the last minute, a Kubernetes `GET`.

Each asks the least that proves the system is there and would take the runbook's request; none writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from handrail.actions.flush_cache import CacheConnection
from handrail.actions.kubernetes import (
    Budget,
    KubernetesClients,
    KubernetesConnection,
    KubernetesRequestError,
    Workload,
    call_api,
)
from handrail.check.base import CacheConnectionUse, Finding, KubernetesWorkload, LokiQuery, Unreachable
from handrail.check.subjects import PLACEHOLDER_CONTEXT
from handrail.diagnostics.base import HttpConnection
from handrail.errors import ActionError, TemplateError
from handrail.redaction import redact, url_origin, url_secrets
from handrail.runbook.template import render_promql

__all__ = ["CacheChecker", "KubernetesChecker", "LokiChecker"]

_TIMEOUT = 10.0
_SHOWN = 300
_WINDOW_NS = 60 * 10**9


class CacheChecker:
    """Checks that each cache connection a `flush_cache` names answers `PING` (Redis)."""

    def __init__(self, connections: Mapping[str, CacheConnection]) -> None:
        self._connections = connections
        self._answers: dict[str, asyncio.Task[None]] = {}

    async def check(self, subject: CacheConnectionUse) -> Sequence[Finding]:
        connection = self._connections.get(subject.connection)
        if connection is None:
            return [
                Finding(
                    "HR607", f"no cache connection '{subject.connection}' is configured (`caches:` in handrail.yaml)"
                )
            ]
        task = self._answers.get(subject.connection)
        if task is None:
            task = self._answers[subject.connection] = asyncio.ensure_future(self._ping(subject.connection, connection))
        await asyncio.shield(task)
        return []

    async def _ping(self, name: str, connection: CacheConnection) -> None:
        url = connection.url.get_secret_value()
        where = f"cache '{name}' ({url_origin(url)})"
        timeout = min(connection.timeout, _TIMEOUT)
        try:
            client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        except ValueError as exc:
            raise Unreachable(where, redact(str(exc), url_secrets(url))) from None
        try:
            async with asyncio.timeout(timeout):
                await client.ping()
        except (TimeoutError, RedisError, OSError) as exc:
            raise Unreachable(where, redact(f"PING: {type(exc).__name__}: {exc}", url_secrets(url))) from None
        finally:
            await client.aclose()

    async def aclose(self) -> None:
        self._answers.clear()


class LokiChecker:
    """Runs each `log_search` LogQL query over the last minute (`limit=1`) on its Loki connection."""

    def __init__(self, connections: Mapping[str, HttpConnection]) -> None:
        self._connections = connections
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def check(self, subject: LokiQuery) -> Sequence[Finding]:
        connection = self._connections.get(subject.connection)
        if connection is None:
            return [
                Finding(
                    "HR607",
                    f"no Loki connection '{subject.connection}' is configured (`loki:` in handrail.yaml, or LOKI_URL)",
                )
            ]
        where = f"Loki '{subject.connection}' ({url_origin(connection.url)})"
        try:
            query = render_promql(subject.query, PLACEHOLDER_CONTEXT)
        except TemplateError as exc:
            return [Finding("HR603", f"the query cannot be rendered for {where}: {exc}")]
        now = time.time_ns()
        params = {
            "query": query,
            "start": str(now - _WINDOW_NS),
            "end": str(now),
            "limit": "1",
            "direction": "backward",
        }
        timeout = min(connection.timeout, _TIMEOUT)
        try:
            client = self._clients.get(subject.connection)
            if client is None:
                client = self._clients[subject.connection] = httpx.AsyncClient(**connection.client_options())
            async with asyncio.timeout(timeout):
                response = await client.get("/loki/api/v1/query_range", params=params)
        except (TimeoutError, httpx.TimeoutException):
            raise Unreachable(where, f"no answer within {timeout:g}s") from None
        except (httpx.HTTPError, OSError) as exc:
            raise Unreachable(where, redact(f"{type(exc).__name__}: {exc}", connection.secrets())) from None
        if response.status_code == 400:
            return [Finding("HR603", f"{where} refuses the query: {_one_line(response.text)}")]
        if not response.is_success:
            reason = redact(f"HTTP {response.status_code}: {_one_line(response.text)}", connection.secrets())
            raise Unreachable(where, reason)
        return []

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


class KubernetesChecker:
    """Reads each workload an action names with a `GET` on the cluster (`kubernetes:` in handrail.yaml)."""

    def __init__(self, connection: KubernetesConnection | None, clients: KubernetesClients | None = None) -> None:
        self._clients = clients or KubernetesClients(connection)

    async def check(self, subject: KubernetesWorkload) -> Sequence[Finding]:
        if self._clients.connection is None:
            return [Finding("HR607", "no Kubernetes cluster is configured (`kubernetes:` in handrail.yaml)")]
        where = f"Kubernetes {self._clients.where(subject.context)}"
        workload = Workload(subject.kind, subject.name, subject.namespace)
        budget = Budget.start(_TIMEOUT)
        try:
            apps = await self._clients.open_apps(subject.context, budget)
            read = {
                "deployment": apps.read_namespaced_deployment,
                "statefulset": apps.read_namespaced_stateful_set,
                "daemonset": apps.read_namespaced_daemon_set,
            }[subject.kind]
            await call_api(budget, f"GET {workload.resource}/{workload.name}", read, workload.name, workload.namespace)
        except KubernetesRequestError as exc:
            if exc.status == 404:
                return [Finding("HR611", f"{where} has no {workload}: {exc}")]
            if exc.status is not None and exc.status < 500 and exc.status not in (401, 403):
                return [Finding("HR611", f"{where} refuses to read {workload}: {exc}")]
            raise Unreachable(where, str(exc)) from None
        except ActionError as exc:
            raise Unreachable(where, str(exc)) from None
        return []

    async def aclose(self) -> None:
        await asyncio.to_thread(self._clients.close)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
