"""Everything a runbook names that a live system can confirm, each at its place in the file.

What a template (`{{ labels.x }}`) decides is only known when an alert arrives: a program, a file, a
host or a Kubernetes name that holds a placeholder is not listed (a PromQL query or SQL with one is:
it is checked with placeholder values, `PLACEHOLDER_CONTEXT`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from handrail.actions import ACTION_PARAMS
from handrail.actions.base import KubernetesTarget
from handrail.actions.flush_cache import FlushCacheParams
from handrail.actions.restart_service import RestartServiceParams
from handrail.actions.rollback import RollbackParams
from handrail.actions.run_script import RunScriptParams
from handrail.check.base import (
    AlertTrigger,
    CacheConnectionUse,
    HostName,
    KubernetesWorkload,
    LogFile,
    LokiQuery,
    Program,
    PromQuery,
    SqlPlan,
    Subject,
)
from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.diagnostics.database_query import DatabaseQueryParams
from handrail.diagnostics.http_check import HttpCheckParams
from handrail.diagnostics.log_search import LogSearchParams
from handrail.diagnostics.prometheus_query import DEFAULT_CONNECTION, PrometheusQueryParams
from handrail.diagnostics.shell_command import ShellCommandParams
from handrail.diagnostics.tls_certificate import TlsCertificateParams
from handrail.runbook.model import Runbook
from handrail.runbook.source import DocumentPath
from handrail.runbook.template import has_placeholders

__all__ = ["PLACEHOLDER", "PLACEHOLDER_CONTEXT", "runbook_subjects"]

PLACEHOLDER = "handrail-check"
"""The value every `{{ … }}` takes when a query is tried on its server."""


class _Anything(Mapping[str, object]):
    """Labels and annotations where every name has the value `PLACEHOLDER`."""

    def __getitem__(self, key: str) -> object:
        return PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True


PLACEHOLDER_CONTEXT: Mapping[str, object] = {"labels": _Anything(), "annotations": _Anything()}


def runbook_subjects(runbook: Runbook) -> list[Subject]:
    """Every subject of `runbook`, in file order."""
    found: list[Subject] = []
    for index, trigger in enumerate(runbook.triggers):
        at: DocumentPath = ("triggers", index)
        if trigger.type == "alert" and trigger.alert_name:
            found.append(AlertTrigger(at, DEFAULT_CONNECTION, trigger.alert_name, dict(trigger.labels)))
        elif trigger.type == "metric_threshold" and trigger.metric_query:
            found.append(PromQuery((*at, "metricQuery"), DEFAULT_CONNECTION, trigger.metric_query))
    for index, diagnostic in enumerate(runbook.diagnostics):
        params = _params(DIAGNOSTIC_PARAMS[diagnostic.type], diagnostic.config)
        if params is not None:
            found += _diagnostic(("diagnostics", index, "config"), params)
    for index, remediation in enumerate(runbook.remediations):
        action = remediation.action
        params = _params(ACTION_PARAMS[action.type], action.config) if action is not None else None
        if params is not None:
            found += _action(("remediations", index, "action", "config"), params)
    return found


def _params(model: type[BaseModel], config: Mapping[str, Any]) -> BaseModel | None:
    try:
        return model.model_validate(config)
    except ValidationError:  # lint reports it (HR305/HR306)
        return None


def _diagnostic(at: DocumentPath, params: BaseModel) -> list[Subject]:
    if isinstance(params, PrometheusQueryParams):
        return [PromQuery((*at, "query"), params.connection or DEFAULT_CONNECTION, params.query)]
    if isinstance(params, DatabaseQueryParams):
        return [SqlPlan((*at, "query"), params.database, params.query)]
    if isinstance(params, ShellCommandParams):
        return _program(at, params.command)
    if isinstance(params, LogSearchParams):
        if params.backend == "loki":
            return [LokiQuery((*at, "query"), params.connection or DEFAULT_CONNECTION, params.query or "")]
        return [LogFile((*at, "paths", i), path) for i, path in enumerate(params.paths) if not has_placeholders(path)]
    if isinstance(params, HttpCheckParams):
        hosts = [(i, urlsplit(endpoint.url).hostname) for i, endpoint in enumerate(params.urls)]
        return [HostName((*at, "urls", i, "url"), host) for i, host in hosts if host and not has_placeholders(host)]
    if isinstance(params, TlsCertificateParams):
        hosts = [(i, _address_host(target)) for i, target in enumerate(params.targets)]
        return [HostName((*at, "targets", i), host) for i, host in hosts if host and not has_placeholders(host)]
    return []


def _action(at: DocumentPath, params: BaseModel) -> list[Subject]:
    if isinstance(params, RunScriptParams):
        if params.sql is not None and params.database:
            return [SqlPlan((*at, "sql"), params.database, params.sql, script=True)]
        if params.command is not None:
            return _program(at, params.command)
        if params.shell is not None:
            return _program(at, params.shell, key="shell")
        return []
    if isinstance(params, FlushCacheParams) and params.backend == "redis":
        return [CacheConnectionUse((*at, "connection"), params.connection)]
    if isinstance(params, RestartServiceParams) and params.command is not None:
        return _program(at, params.command)
    if isinstance(params, RestartServiceParams | KubernetesTarget):
        for kind, name, key in (
            ("deployment", params.deployment, "deployment"),
            ("statefulset", params.stateful_set, "statefulSet"),
            ("daemonset", params.daemon_set, "daemonSet"),
        ):
            if name is not None:
                return _workload((*at, key), kind, name, params.namespace, params.context)
    if isinstance(params, RollbackParams):
        return _workload((*at, "deployment"), "deployment", params.deployment, params.namespace, params.context)
    return []


def _workload(at: DocumentPath, kind: str, name: str, namespace: str, context: str | None) -> list[Subject]:
    if any(has_placeholders(text) for text in (name, namespace, context or "")):
        return []
    return [KubernetesWorkload(at, kind, name, namespace, context)]


def _program(at: DocumentPath, command: str | list[str], *, key: str = "command") -> list[Subject]:
    """argv[0] of a command list, or the first word of a shell script (when it is a plain word)."""
    if isinstance(command, list):
        first, where = command[0], (*at, key, 0)
    else:
        try:
            words = shlex.split(command, comments=True)
        except ValueError:
            return []
        first, where = (words[0] if words else ""), (*at, key)
        if "=" in first or first in _SHELL_WORDS:  # `VAR=x cmd`, `if …`: the shell's own grammar
            return []
    if not first or has_placeholders(first) or "$" in first:
        return []
    return [Program(where, first)]


_SHELL_WORDS = frozenset({"if", "for", "while", "until", "case", "{", "(", "!", "exec", "set", "cd", "export"})


def _address_host(target: str) -> str | None:
    """The host of `host:port` (or `[v6]:port`)."""
    text = target.strip()
    if text.startswith("["):
        return text[1:].partition("]")[0] or None
    return text.rpartition(":")[0] or text or None
