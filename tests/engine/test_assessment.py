"""The assessment's own logic, with in-process probes standing in at the Probe protocol boundary.

Probes against real systems are tested in tests/diagnostics/; here the probes are scripted so
that concurrency, timeouts, cancellation and the decision tree can be driven exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handrail.diagnostics.base import Observation, ProbeContext
from handrail.engine import Status, assess, overall_severity
from handrail.errors import ProbeError
from handrail.lint import lint_file
from handrail.runbook.model import Runbook

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"

Script = Callable[[Any, ProbeContext], Awaitable[Observation]]


class ScriptedProbe:
    """Answers each query from a script keyed by the query text."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.contexts: list[ProbeContext] = []

    async def observe(self, params: Any, context: ProbeContext) -> Observation:
        self.contexts.append(context)
        return await self.scripts[params.query](params, context)

    async def aclose(self) -> None:
        return None


def value(number: float | None, *, delay: float = 0.0) -> Script:
    async def script(params: Any, context: ProbeContext) -> Observation:
        await asyncio.sleep(delay)
        values = [] if number is None else [number]
        return Observation(
            {
                "value": number,
                "values": values,
                "series": [{"labels": {}, "value": v} for v in values],
                "count": len(values),
                "sum": sum(values),
                "min": number,
                "max": number,
                "avg": number,
                "empty": not values,
            },
            f"value {number}",
        )

    return script


def failing(message: str) -> Script:
    async def script(params: Any, context: ProbeContext) -> Observation:
        raise ProbeError(message)

    return script


def runbook(text: str, tmp_path: Path) -> Runbook:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    result = lint_file(path)
    assert result.runbook is not None, [str(p) for p in result.problems]
    return result.runbook


TEMPLATE = """\
id: t
name: T
description: d
severity: P2
service: s
triggers: [{type: manual}]
diagnostics:
  - {id: a, name: A, description: d, type: prometheus_query, config: {query: a}, timeout: %(timeout)s,
     interpret: {critical: value >= 90, warning: value >= 70, healthy: value < 70}}
  - {id: b, name: B, description: d, type: prometheus_query, config: {query: b}, timeout: %(timeout)s,
     derive: {double: value * 2}, interpret: {critical: double > 10, healthy: double <= 10}}
decisionTree:
  - {condition: "diagnostics.a.status == 'critical'", then: [fix_a, page], description: A is critical}
  - {condition: "diagnostics.b.double > 10", then: [fix_b, page], description: B doubled is high}
  - {condition: "labels.env == 'prod' && diagnostics.a.status == 'warning'", then: [page], description: prod warning}
  - {otherwise: true, then: [page], description: nothing else}
remediations:
  - {id: fix_a, name: Fix A, description: d, type: manual, instructions: do it}
  - {id: fix_b, name: Fix B, description: d, type: manual, instructions: do it}
  - {id: page, name: Page, description: d, type: escalate}
escalation: {primary: "#x"}
"""


def make(tmp_path: Path, timeout: float = 5) -> Runbook:
    return runbook(TEMPLATE % {"timeout": timeout}, tmp_path)


async def test_every_matching_decision_fires_in_order_and_remediations_are_planned_once(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": value(95), "b": value(6)})
    result = await assess(make(tmp_path), probes={"prometheus_query": probe})
    assert [r.status for r in result.results] == [Status.CRITICAL, Status.CRITICAL]
    assert [d.matched for d in result.decisions] == [True, True, False, False]
    assert result.recommended_actions == ("fix_a", "page", "fix_b")
    assert result.overall_severity is Status.CRITICAL
    assert result.result("b") is not None
    assert result.result("b").facts == {"double": 12}  # type: ignore[union-attr]


async def test_otherwise_fires_only_when_nothing_else_did(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": value(10), "b": value(1)})
    result = await assess(make(tmp_path), probes={"prometheus_query": probe})
    assert [d.matched for d in result.decisions] == [False, False, False, True]
    assert result.recommended_actions == ("page",)
    assert result.overall_severity is Status.HEALTHY


async def test_conditions_read_labels(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": value(75), "b": value(1)})
    prod = await assess(make(tmp_path), probes={"prometheus_query": probe}, labels={"env": "prod"})
    staging = await assess(make(tmp_path), probes={"prometheus_query": probe}, labels={"env": "staging"})
    assert prod.decisions[2].matched
    assert not staging.decisions[2].matched
    assert probe.contexts[0].template["labels"] == {"env": "prod"}


async def test_no_data_is_unknown_never_healthy(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": value(None), "b": value(1)})
    result = await assess(make(tmp_path), probes={"prometheus_query": probe})
    a = result.result("a")
    assert a is not None
    assert a.status is Status.UNKNOWN
    assert "no status condition holds" in a.message
    assert result.overall_severity is Status.WARNING


async def test_probe_error_becomes_status_error_with_its_message(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": failing("connection refused to prometheus:9090"), "b": value(1)})
    result = await assess(make(tmp_path), probes={"prometheus_query": probe})
    a = result.result("a")
    assert a is not None
    assert (a.status, a.message, a.raw) == (Status.ERROR, "connection refused to prometheus:9090", None)
    assert result.decisions[-1].matched  # nothing else fired: the fallback escalates


async def test_unexpected_exception_in_a_probe_is_contained(tmp_path: Path) -> None:
    async def broken(params: Any, context: ProbeContext) -> Observation:
        raise KeyError("bug")

    probe = ScriptedProbe({"a": broken, "b": value(1)})
    result = await assess(make(tmp_path), probes={"prometheus_query": probe})
    assert result.results[0].status is Status.ERROR
    assert "internal error" in result.results[0].message
    assert result.results[1].status is Status.HEALTHY


async def test_step_timeout_is_an_error_and_the_probe_is_cancelled(tmp_path: Path) -> None:
    cancelled = asyncio.Event()

    async def hangs(params: Any, context: ProbeContext) -> Observation:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    probe = ScriptedProbe({"a": hangs, "b": value(1)})
    result = await assess(make(tmp_path, timeout=0.2), probes={"prometheus_query": probe})
    assert result.results[0].status is Status.ERROR
    assert result.results[0].message == "timed out after 0.2s"
    assert cancelled.is_set()


async def test_deadline_cancels_what_is_still_running_and_reports_it(tmp_path: Path) -> None:
    cleaned_up = asyncio.Event()

    async def ignores_its_timeout(params: Any, context: ProbeContext) -> Observation:
        try:
            await asyncio.sleep(60)
        finally:
            cleaned_up.set()
        raise AssertionError("unreachable")

    probe = ScriptedProbe({"a": ignores_its_timeout, "b": value(1)})
    result = await assess(make(tmp_path, timeout=30), probes={"prometheus_query": probe}, deadline=0.2)
    assert result.results[0].status is Status.ERROR
    assert "deadline" in result.results[0].message
    assert result.results[1].status is Status.HEALTHY
    assert cleaned_up.is_set()
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("diagnostic:")] == []


async def test_diagnostics_run_concurrently(tmp_path: Path) -> None:
    events: list[str] = []

    def tracked(name: str) -> Script:
        async def script(params: Any, context: ProbeContext) -> Observation:
            events.append(f"start {name}")
            await asyncio.sleep(0.05)
            events.append(f"end {name}")
            return await value(1)(params, context)

        return script

    probe = ScriptedProbe({"a": tracked("a"), "b": tracked("b")})
    await assess(make(tmp_path), probes={"prometheus_query": probe})
    # both had started before either finished
    assert [event.split()[0] for event in events] == ["start", "start", "end", "end"]


async def test_derive_error_is_a_status_error_naming_the_fact(tmp_path: Path) -> None:
    text = TEMPLATE.replace("derive: {double: value * 2}", "derive: {double: value / 0}")
    probe = ScriptedProbe({"a": value(1), "b": value(1)})
    result = await assess(runbook(text % {"timeout": 5}, tmp_path), probes={"prometheus_query": probe})
    b = result.result("b")
    assert b is not None
    assert b.status is Status.ERROR
    assert "derive double" in b.message
    assert "division by zero" in b.message
    assert b.probe_message == "value 1"  # what a replay hands back to derive (docs/replay.md)
    assert b.to_dict()["probeMessage"] == "value 1"


async def test_a_failed_probe_keeps_no_probe_message_and_its_error_as_the_message(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": failing("connection refused"), "b": value(20)})
    result = await assess(make(tmp_path), probes={"prometheus_query": probe})
    a, b = result.result("a"), result.result("b")
    assert a is not None
    assert b is not None
    assert (a.status, a.message, a.raw, a.probe_message) == (Status.ERROR, "connection refused", None, None)
    assert b.probe_message == b.message == "value 20"


async def test_missing_probe_type_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = await assess(make(tmp_path), probes={})
    assert [r.status for r in result.results] == [Status.ERROR, Status.ERROR]
    assert "no probe is configured" in result.results[0].message


async def test_result_uses_the_reference_api_field_names(tmp_path: Path) -> None:
    probe = ScriptedProbe({"a": value(95), "b": value(1)})
    fixed = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    result = await assess(make(tmp_path), probes={"prometheus_query": probe}, clock=lambda: fixed)
    body = result.to_dict()
    assert list(body) == [
        "runbookId",
        "triggeredAt",
        "labels",
        "diagnosticResults",
        "decisions",
        "recommendedActions",
        "overallSeverity",
        "timeline",
    ]
    first = body["diagnosticResults"][0]
    assert {"stepId", "name", "status", "rawValue", "message", "durationMs", "facts"} <= set(first)
    assert body["timeline"][0] == {"timestamp": "2026-11-26T03:00:00+00:00", "event": 'Runbook "T" triggered'}
    assert {"timestamp", "event"} == set(body["timeline"][-1])
    assert body["decisions"][0]["condition"] == "diagnostics.a.status == 'critical'"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([], Status.HEALTHY, id="nothing"),
        pytest.param([Status.HEALTHY, Status.HEALTHY], Status.HEALTHY, id="all-healthy"),
        pytest.param([Status.HEALTHY, Status.UNKNOWN], Status.WARNING, id="unknown-is-not-healthy"),
        pytest.param([Status.HEALTHY, Status.ERROR], Status.WARNING, id="error-is-not-healthy"),
        pytest.param([Status.WARNING, Status.CRITICAL], Status.CRITICAL, id="critical-wins"),
    ],
)
def test_overall_severity(statuses: list[Status], expected: Status) -> None:
    assert overall_severity(statuses) is expected
