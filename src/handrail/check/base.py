"""What `handrail check` asks of live systems: subjects a runbook names, findings, and the `Checker` protocol.

A runbook names things that live elsewhere: metrics, alert rules, tables, connections, programs,
files, hosts. `subjects.py` lists them as `Subject`s, each at its place in the file; a `Checker` (one
per kind of system) asks its system about one subject, read-only, and answers with `Finding`s. The
runner (`run.py`) turns a finding into a `Problem` at the exact place: the finding says where in the
subject's text it stands (`offset`, `token`) or below which key (`at`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from handrail.runbook.source import DocumentPath

__all__ = [
    "AlertTrigger",
    "CacheConnectionUse",
    "Checker",
    "Finding",
    "HostName",
    "KubernetesWorkload",
    "LogFile",
    "LokiQuery",
    "Program",
    "PromQuery",
    "SqlPlan",
    "Subject",
    "Unreachable",
]


class Unreachable(Exception):
    """A live system could not be asked (down, refusing, misconfigured); becomes one HR606 finding per file."""

    def __init__(self, system: str, reason: str) -> None:
        super().__init__(f"{system} cannot be reached: {reason}")
        self.system = system
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Finding:
    """What a checker found about one subject: a code (HR6nn), a message naming the system it asked."""

    code: str
    message: str
    offset: int | None = None
    """Where in the subject's text (0-based) the finding stands, when it is about one part of it."""
    token: str | None = None
    """The text at `offset` (a metric name, a table), to find it again in a folded YAML scalar."""
    at: DocumentPath = ()
    """A key below the subject's place that the finding is about (`labels`, `cluster`)."""
    system: str | None = None
    """The system an HR606 could not reach: a file hears of each such system once."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Something a runbook names, at `at` in its file (the value whose text `Finding.offset` counts in)."""

    at: DocumentPath


@dataclass(frozen=True, slots=True)
class PromQuery(Subject):
    """A PromQL query (a diagnostic, a `metric_threshold` trigger) and the Prometheus connection it runs on."""

    connection: str
    query: str


@dataclass(frozen=True, slots=True)
class AlertTrigger(Subject):
    """An `alert` trigger: the alert name an alerting rule must define, and the label matchers."""

    connection: str
    alert_name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SqlPlan(Subject):
    """SQL (a `database_query`, a `run_script` script) to plan on its database connection."""

    database: str
    sql: str
    script: bool = False
    """A `run_script` script: several statements, some of which no `EXPLAIN` takes (they are skipped)."""


@dataclass(frozen=True, slots=True)
class CacheConnectionUse(Subject):
    """A cache connection (`flush_cache`) that must answer `PING`."""

    connection: str


@dataclass(frozen=True, slots=True)
class LokiQuery(Subject):
    """A LogQL query (`log_search` with `backend: loki`) and the Loki connection it runs on."""

    connection: str
    query: str


@dataclass(frozen=True, slots=True)
class KubernetesWorkload(Subject):
    """A workload an action restarts, scales or rolls back, read with a `GET`."""

    kind: str
    """`deployment`, `statefulset` or `daemonset`."""
    name: str
    namespace: str
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Program(Subject):
    """A program a `shell_command` or a `run_script` `command:` starts (argv[0])."""

    name: str


@dataclass(frozen=True, slots=True)
class LogFile(Subject):
    """A file (or a glob) a `log_search` reads."""

    pattern: str


@dataclass(frozen=True, slots=True)
class HostName(Subject):
    """A host an `http_check` or a `tls_certificate` connects to."""

    host: str


S_contra = TypeVar("S_contra", bound=Subject, contravariant=True)


class Checker(Protocol[S_contra]):
    """Asks one kind of live system about the subjects of its kind, read-only."""

    async def check(self, subject: S_contra) -> Sequence[Finding]:
        """What the system says about `subject`.

        Args:
            subject: one thing a runbook names, of this checker's kind.

        Returns:
            The findings, none when the system confirms the subject.

        Raises:
            Unreachable: the system could not be asked (the runner reports it once per file).
        """
        ...

    async def aclose(self) -> None:
        """Release clients and engines."""
        ...
