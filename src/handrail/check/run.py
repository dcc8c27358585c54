"""`handrail check`: every subject of every runbook to its checker, in parallel; findings at their place.

Files are linted first: a file with lint errors is not checked, and its errors are its result (a
runbook that does not load cannot meet anything). Each subject goes to the checker of its kind, at
most `concurrency` at once; a system that cannot be reached is one HR606 per file (the other
subjects still run), and a checker that fails in a way nobody expected is a finding too, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from handrail.actions.flush_cache import CacheConnection
from handrail.actions.kubernetes import KubernetesConnection
from handrail.check.base import (
    AlertTrigger,
    CacheConnectionUse,
    Checker,
    Finding,
    HostName,
    KubernetesWorkload,
    LogFile,
    LokiQuery,
    Program,
    PromQuery,
    SqlPlan,
    Subject,
    Unreachable,
)
from handrail.check.connections import CacheChecker, KubernetesChecker, LokiChecker
from handrail.check.database import DatabaseChecker
from handrail.check.local import HostChecker, LocalChecker
from handrail.check.prometheus import PrometheusChecker
from handrail.check.subjects import runbook_subjects
from handrail.diagnostics.base import HttpConnection
from handrail.lint import lint_paths
from handrail.runbook.load import load_runbook_file
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Position, Problem, Severity
from handrail.runbook.source import Document, DocumentPath
from handrail.sql import DatabaseConnection

__all__ = ["DEFAULT_CONCURRENCY", "CheckResult", "Connections", "LiveCheckers", "check_paths", "create_checkers"]

logger = logging.getLogger(__name__)

_ONCE_PER_FILE = frozenset({"HR606", "HR607"})
"""About a system, not a subject: a system that cannot be reached, or is not configured, is said once per file."""

DEFAULT_CONCURRENCY = 16
"""Subjects checked at once (each checker also asks its system each thing once per run)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One file's verdict: its runbook id (when it declares one) and the problems found, in file order."""

    path: str
    runbook_id: str | None
    problems: tuple[Problem, ...]
    checked: bool = True
    """False when the file has lint errors (they are its problems) and was not checked against anything."""
    runbook: Runbook | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


@dataclass
class LiveCheckers:
    """The checker of each kind of subject, built from the configured connections."""

    by_kind: Mapping[type[Subject], Checker[Any]]

    async def check(self, subject: Subject) -> Sequence[Finding]:
        return await self.by_kind[type(subject)].check(subject)

    async def aclose(self) -> None:
        unique = {id(checker): checker for checker in self.by_kind.values()}
        await asyncio.gather(*(checker.aclose() for checker in unique.values()), return_exceptions=True)


class Connections(Protocol):
    """Where the systems are: the settings (`handrail.yaml`) have these, and nothing here reads the settings."""

    @property
    def prometheus(self) -> Mapping[str, HttpConnection]: ...
    @property
    def loki(self) -> Mapping[str, HttpConnection]: ...
    @property
    def databases(self) -> Mapping[str, DatabaseConnection]: ...
    @property
    def caches(self) -> Mapping[str, CacheConnection]: ...
    @property
    def kubernetes(self) -> KubernetesConnection | None: ...


def create_checkers(connections: Connections) -> LiveCheckers:
    """One checker per kind of system (one explicit table); the caller closes them with `aclose()`."""
    promql = PrometheusChecker(connections.prometheus)
    local = LocalChecker()
    return LiveCheckers(
        {
            PromQuery: promql,
            AlertTrigger: promql,
            SqlPlan: DatabaseChecker(connections.databases),
            CacheConnectionUse: CacheChecker(connections.caches),
            LokiQuery: LokiChecker(connections.loki),
            KubernetesWorkload: KubernetesChecker(connections.kubernetes),
            Program: local,
            LogFile: local,
            HostName: HostChecker(),
        }
    )


async def check_paths(
    paths: Iterable[Path], checkers: LiveCheckers, *, concurrency: int = DEFAULT_CONCURRENCY
) -> list[CheckResult]:
    """Lint the files and folders, then check every runbook that loads against the live systems."""
    results = await asyncio.to_thread(lint_paths, list(paths))
    slots = asyncio.Semaphore(concurrency)

    async def one(path: str, runbook_id: str | None) -> CheckResult:
        loaded = await asyncio.to_thread(load_runbook_file, path)
        if loaded.runbook is None or loaded.document is None:
            return CheckResult(path, runbook_id, tuple(loaded.problems), checked=False)
        lines = await asyncio.to_thread(_lines, path)
        subjects = runbook_subjects(loaded.runbook)
        found = await asyncio.gather(*(_ask(checkers, subject, slots) for subject in subjects))
        problems = _problems(loaded.document, lines, zip(subjects, found, strict=True))
        return CheckResult(path, runbook_id, problems, runbook=loaded.runbook)

    checked: list[asyncio.Future[CheckResult]] = []
    for result in results:
        if result.runbook is None:
            done: asyncio.Future[CheckResult] = asyncio.get_running_loop().create_future()
            done.set_result(CheckResult(result.path, result.runbook_id, result.errors, checked=False))
            checked.append(done)
        else:
            checked.append(asyncio.ensure_future(one(result.path, result.runbook.id)))
    return list(await asyncio.gather(*checked))


async def _ask(checkers: LiveCheckers, subject: Subject, slots: asyncio.Semaphore) -> Sequence[Finding]:
    async with slots:
        try:
            return await checkers.check(subject)
        except Unreachable as exc:
            return [Finding("HR606", str(exc), system=exc.system)]
        except Exception as exc:  # a checker's surprise is a finding about that subject, never a crash
            logger.warning("checking %s failed", type(subject).__name__, exc_info=True)
            return [Finding("HR606", f"the check could not be done: {type(exc).__name__}: {exc}")]


def _problems(
    document: Document, lines: Sequence[str], found: Iterable[tuple[Subject, Sequence[Finding]]]
) -> tuple[Problem, ...]:
    problems: list[Problem] = []
    once: set[str] = set()
    for subject, findings in found:
        for finding in findings:
            if finding.code in _ONCE_PER_FILE:
                key = finding.system or finding.message
                if key in once:
                    continue
                once.add(key)
            where = _place(document, lines, subject.at, finding)
            problems.append(Problem(document.path, where, finding.code, finding.message))
    return tuple(sorted(problems, key=lambda p: (p.position.line, p.position.column, p.code)))


def _place(document: Document, lines: Sequence[str], at: DocumentPath, finding: Finding) -> Position:
    """The line and column of a finding: the key below the subject, or the token inside the subject's text."""
    if finding.at:
        return document.position((*at, *finding.at))
    value = _value_at(document.data, at)
    offset = finding.offset
    if offset is None and finding.token is not None and isinstance(value, str):
        offset = max(value.find(finding.token), 0)
    if offset is None or not isinstance(value, str):
        return document.position(at)
    if finding.token:
        found = _search(lines, document.position(at), finding.token, len(_word(finding.token).findall(value[:offset])))
        if found is not None:
            return found
    if document.styles.get(at) in ("|", ">") or "\n" in value:
        return document.position(at)
    return document.text_position(at, offset + 1)


def _search(lines: Sequence[str], start: Position, token: str, skip: int) -> Position | None:
    """The (skip+1)-th place of `token` as a word from `start` on (a folded scalar keeps words, not columns)."""
    pattern = _word(token)
    for number in range(start.line, len(lines) + 1):
        line = lines[number - 1]
        begin = start.column - 1 if number == start.line else 0
        for match in pattern.finditer(line, begin):
            if skip == 0:
                return Position(number, match.start() + 1)
            skip -= 1
    return None


def _word(token: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w:]){re.escape(token)}(?![\w:])")


def _value_at(data: object, at: DocumentPath) -> object:
    for key in at:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
