"""The assessment: run every diagnostic at once, read the evidence, walk the decision tree.

    probes ──(concurrently, each with its timeout, all within a deadline)──► observations
    observations ──derive──► facts ──interpret──► statuses ──decision tree──► recommendations

Nothing a probe does can break the assessment: a `ProbeError`, a timeout, a cancellation at the
deadline or an unexpected exception each become status `error` with a message. The result uses
the reference API's field names (`runbookId`, `diagnosticResults`, `recommendedActions`, ...).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.diagnostics.base import Probe, ProbeContext
from handrail.errors import ExpressionError, ProbeError
from handrail.expression import holds, parse
from handrail.redaction import redact
from handrail.runbook.model import Diagnostic, Runbook

__all__ = [
    "Assessment",
    "AssessmentObserver",
    "DecisionResult",
    "DiagnosticResult",
    "Status",
    "TimelineEvent",
    "assess",
    "overall_severity",
]

logger = logging.getLogger(__name__)


class Status(enum.StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DiagnosticResult:
    """One diagnostic's outcome: its status, the raw values, the derived facts, and why."""

    step_id: str
    name: str
    type: str
    status: Status
    message: str
    duration_ms: float
    raw: Mapping[str, Any] | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    probe_message: str | None = None
    """The probe's own message, before derive and interpret added to it (None when the probe failed):
    with `raw`, what `handrail replay` needs to evaluate the runbook again (docs/replay.md)."""

    def condition_view(self) -> dict[str, Any]:
        """What decision conditions see as `diagnostics.<id>`."""
        return {
            **(self.raw or {}),
            **self.facts,
            "status": self.status.value,
            "message": self.message,
            "name": self.name,
            "durationMs": self.duration_ms,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "stepId": self.step_id,
            "name": self.name,
            "type": self.type,
            "status": self.status.value,
            "rawValue": self.raw,
            "facts": dict(self.facts),
            "message": self.message,
            "probeMessage": self.probe_message,
            "durationMs": round(self.duration_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """One branch of the decision tree: whether it fired, and what it plans."""

    index: int
    condition: str | None
    description: str
    matched: bool
    then: tuple[str, ...]
    otherwise: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "condition": self.condition,
            "otherwise": self.otherwise,
            "description": self.description,
            "matched": self.matched,
            "then": list(self.then),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    timestamp: datetime
    event: str

    def to_dict(self) -> dict[str, str]:
        return {"timestamp": self.timestamp.isoformat(), "event": self.event}


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the evidence says and what the runbook recommends."""

    runbook_id: str
    triggered_at: datetime
    results: tuple[DiagnosticResult, ...]
    decisions: tuple[DecisionResult, ...]
    recommended_actions: tuple[str, ...]
    overall_severity: Status
    timeline: tuple[TimelineEvent, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def result(self, step_id: str) -> DiagnosticResult | None:
        return next((r for r in self.results if r.step_id == step_id), None)

    def to_dict(self) -> dict[str, Any]:
        """The reference API's shape, plus `decisions`, `facts` and `labels`."""
        return {
            "runbookId": self.runbook_id,
            "triggeredAt": self.triggered_at.isoformat(),
            "labels": dict(self.labels),
            "diagnosticResults": [r.to_dict() for r in self.results],
            "decisions": [d.to_dict() for d in self.decisions],
            "recommendedActions": list(self.recommended_actions),
            "overallSeverity": self.overall_severity.value,
            "timeline": [e.to_dict() for e in self.timeline],
        }


class AssessmentObserver(Protocol):
    """Told as each diagnostic starts and finishes (the CLI draws its live view from this)."""

    def started(self, diagnostic: Diagnostic) -> None: ...

    def finished(self, result: DiagnosticResult) -> None: ...


def overall_severity(statuses: Sequence[Status]) -> Status:
    """Critical if any is critical; else warning if any is warning, unknown or error; else healthy."""
    if Status.CRITICAL in statuses:
        return Status.CRITICAL
    if any(s in (Status.WARNING, Status.UNKNOWN, Status.ERROR) for s in statuses):
        return Status.WARNING
    return Status.HEALTHY


async def assess(
    runbook: Runbook,
    *,
    probes: Mapping[str, Probe[Any]],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    deadline: float = 120.0,
    observer: AssessmentObserver | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Assessment:
    """Run the runbook's diagnostics concurrently and decide what they mean. Never raises for a probe."""
    labels = dict(labels or {})
    triggered_at = clock()
    timeline = [TimelineEvent(triggered_at, f'Runbook "{runbook.name}" triggered')]
    template = {"labels": labels, "annotations": dict(annotations or {})}
    tasks = [
        asyncio.create_task(_run_diagnostic(d, probes, template, observer), name=f"diagnostic:{d.id}")
        for d in runbook.diagnostics
    ]
    results = await _gather_within(tasks, runbook.diagnostics, deadline, observer)
    for result in results:
        timeline.append(TimelineEvent(clock(), f"{result.name}: {result.status.value} — {result.message}"))
    decisions = _decide(runbook, results, labels)
    recommended: list[str] = []
    for decision in decisions:
        if decision.error is not None:
            problem = f"Decision {decision.index + 1} could not be evaluated: {decision.error}"
            timeline.append(TimelineEvent(clock(), problem))
        if decision.matched:
            timeline.append(TimelineEvent(clock(), f"Decision: {decision.description}"))
            recommended += [rid for rid in decision.then if rid not in recommended]
    if recommended:
        timeline.append(TimelineEvent(clock(), f"Recommended: {', '.join(recommended)}"))
    return Assessment(
        runbook_id=runbook.id,
        triggered_at=triggered_at,
        results=tuple(results),
        decisions=tuple(decisions),
        recommended_actions=tuple(recommended),
        overall_severity=overall_severity([r.status for r in results]),
        timeline=tuple(timeline),
        labels=labels,
    )


async def _gather_within(
    tasks: list[asyncio.Task[DiagnosticResult]],
    diagnostics: Sequence[Diagnostic],
    deadline: float,
    observer: AssessmentObserver | None,
) -> list[DiagnosticResult]:
    """Wait for every task up to the deadline; cancel and reap the rest (their cleanup runs)."""
    if not tasks:
        return []
    started = time.perf_counter()
    try:
        done, pending = await asyncio.wait(tasks, timeout=deadline)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    results = []
    for task, diagnostic in zip(tasks, diagnostics, strict=True):
        if task in done and not task.cancelled() and task.exception() is None:
            results.append(task.result())
            continue
        elapsed = (time.perf_counter() - started) * 1000
        result = _failed(diagnostic, f"the assessment deadline ({deadline:g}s) was reached", elapsed)
        if observer is not None:
            observer.finished(result)
        results.append(result)
    return results


async def _run_diagnostic(
    diagnostic: Diagnostic,
    probes: Mapping[str, Probe[Any]],
    template: Mapping[str, object],
    observer: AssessmentObserver | None,
) -> DiagnosticResult:
    if observer is not None:
        observer.started(diagnostic)
    started = time.perf_counter()
    result = await _observe(diagnostic, probes, template, started)
    if observer is not None:
        observer.finished(result)
    return result


async def _observe(
    diagnostic: Diagnostic, probes: Mapping[str, Probe[Any]], template: Mapping[str, object], started: float
) -> DiagnosticResult:
    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    probe = probes.get(diagnostic.type)
    if probe is None:
        return _failed(diagnostic, f"no probe is configured for {diagnostic.type}", elapsed())
    try:
        params = DIAGNOSTIC_PARAMS[diagnostic.type].model_validate(diagnostic.config)
    except ValidationError as exc:
        return _failed(diagnostic, f"invalid config: {exc.errors()[0]['msg']}", elapsed())
    context = ProbeContext(template=template, timeout=diagnostic.timeout)
    try:
        async with asyncio.timeout(diagnostic.timeout):
            observation = await probe.observe(params, context)
    except ProbeError as exc:
        return _failed(diagnostic, redact(str(exc)), elapsed())
    except TimeoutError:
        return _failed(diagnostic, f"timed out after {diagnostic.timeout:g}s", elapsed())
    except Exception as exc:  # a bug in a probe must not take the assessment down
        logger.exception("probe %s failed unexpectedly", diagnostic.type)
        return _failed(diagnostic, f"internal error in the {diagnostic.type} probe: {type(exc).__name__}", elapsed())
    return _interpret(diagnostic, dict(observation.values), observation.message, template, elapsed())


def _interpret(
    diagnostic: Diagnostic, raw: dict[str, Any], message: str, template: Mapping[str, object], duration_ms: float
) -> DiagnosticResult:
    context: dict[str, Any] = {**raw, "labels": template.get("labels", {})}
    facts: dict[str, Any] = {}
    for name, source in diagnostic.derive.items():
        try:
            facts[name] = context[name] = parse(source).evaluate(context)
        except ExpressionError as exc:
            error = f"derive {name}: {exc}"
            return _result(diagnostic, Status.ERROR, f"{message}; {error}", duration_ms, raw, facts, message)
    for status in (Status.CRITICAL, Status.WARNING, Status.HEALTHY):
        source = getattr(diagnostic.interpret, status.value)
        if source is None:
            continue
        try:
            if holds(parse(source).evaluate(context)):
                return _result(diagnostic, status, message, duration_ms, raw, facts, message)
        except ExpressionError as exc:
            error = f"interpret {status.value}: {exc}"
            return _result(diagnostic, Status.ERROR, f"{message}; {error}", duration_ms, raw, facts, message)
    unknown = f"{message}; no status condition holds"
    return _result(diagnostic, Status.UNKNOWN, unknown, duration_ms, raw, facts, message)


def _decide(runbook: Runbook, results: Sequence[DiagnosticResult], labels: Mapping[str, str]) -> list[DecisionResult]:
    context = {"diagnostics": {r.step_id: r.condition_view() for r in results}, "labels": dict(labels)}
    decisions: list[DecisionResult] = []
    for index, decision in enumerate(runbook.decision_tree):
        if decision.otherwise:
            continue
        matched, error = False, None
        try:
            matched = holds(parse(decision.condition or "false").evaluate(context))
        except ExpressionError as exc:
            error = str(exc)
        then = tuple(decision.then)
        decisions.append(DecisionResult(index, decision.condition, decision.description, matched, then, error=error))
    fired = any(d.matched for d in decisions)
    for index, decision in enumerate(runbook.decision_tree):
        if decision.otherwise:
            then = tuple(decision.then)
            decisions.append(DecisionResult(index, None, decision.description, not fired, then, otherwise=True))
    return sorted(decisions, key=lambda d: d.index)


def _failed(diagnostic: Diagnostic, message: str, duration_ms: float) -> DiagnosticResult:
    return _result(diagnostic, Status.ERROR, message, duration_ms, None, {})


def _result(
    diagnostic: Diagnostic,
    status: Status,
    message: str,
    duration_ms: float,
    raw: Mapping[str, Any] | None,
    facts: Mapping[str, Any],
    probe_message: str | None = None,
) -> DiagnosticResult:
    return DiagnosticResult(
        diagnostic.id, diagnostic.name, diagnostic.type, status, message, duration_ms, raw, facts, probe_message
    )
