"""Run one scenario through the real assessment and plan, and say how the result differs from what it expects.

Only the probes are simulated: config validation, timeouts, `derive`, `interpret`, the decision
tree and the plan's step kinds are the production code (`engine.assessment.assess`,
`engine.plan.plan_remediations`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from handrail.engine.assessment import Assessment, assess
from handrail.engine.plan import Plan, plan_remediations
from handrail.runbook.model import Runbook
from handrail.scenarios.load import Expectation, Scenario
from handrail.scenarios.simulation import simulated_probes

__all__ = ["Difference", "ScenarioOutcome", "compare", "run_scenario"]


@dataclass(frozen=True, slots=True)
class Difference:
    """One expectation that did not hold: what, expected, got, and (sometimes) why."""

    what: str
    expected: str
    got: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.what}: expected {self.expected}, got {self.got}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """What one scenario produced, and every way it differs from its expectations."""

    scenario: Scenario
    assessment: Assessment
    plan: Plan
    differences: tuple[Difference, ...]
    duration_ms: float

    @property
    def passed(self) -> bool:
        return not self.differences

    @property
    def fired(self) -> tuple[int, ...]:
        """0-based positions of the decisions that fired."""
        return tuple(d.index for d in self.assessment.decisions if d.matched)

    @property
    def decision_errors(self) -> tuple[str, ...]:
        """Decisions whose condition could not be evaluated (they do not fire): worth a look even when passing."""
        return tuple(f"decision {d.index + 1}: {d.error}" for d in self.assessment.decisions if d.error)


async def run_scenario(runbook: Runbook, scenario: Scenario) -> ScenarioOutcome:
    """Assess `runbook` with the scenario's simulated probes and labels, plan, and compare."""
    started = time.perf_counter()
    probes = simulated_probes(runbook, scenario.outputs)
    assessment = await assess(runbook, probes=probes, labels=scenario.labels)
    plan = plan_remediations(runbook, assessment.recommended_actions)
    differences = compare(runbook, scenario.expect, assessment, plan)
    duration_ms = (time.perf_counter() - started) * 1000
    return ScenarioOutcome(scenario, assessment, plan, tuple(differences), duration_ms)


def compare(runbook: Runbook, expect: Expectation, assessment: Assessment, plan: Plan) -> list[Difference]:
    """Every expectation given that the assessment and plan do not meet, in the order of the format."""
    differences = []
    for diagnostic_id, status in (expect.statuses or {}).items():
        result = assessment.result(diagnostic_id)
        if result is None:
            differences.append(Difference(f"statuses.{diagnostic_id}", status.value, "no result"))
        elif result.status != status:
            differences.append(Difference(f"statuses.{diagnostic_id}", status.value, result.status, result.message))
    if expect.decisions is not None:
        fired = sorted(d.index for d in assessment.decisions if d.matched)
        if list(expect.decisions) != fired:
            odd = sorted(set(expect.decisions) ^ set(fired))
            detail = "; ".join(f"{i + 1}: {runbook.decision_tree[i].description}" for i in odd)
            differences.append(Difference("decisions", _numbers(expect.decisions), _numbers(fired), detail))
    if expect.remediations is not None and tuple(expect.remediations) != plan.remediation_ids:
        differences.append(Difference("remediations", _names(expect.remediations), _names(plan.remediation_ids)))
    if expect.wait_for_approval is not None and set(expect.wait_for_approval) != set(plan.awaiting_approval):
        wanted = _names(sorted(set(expect.wait_for_approval)))
        differences.append(Difference("waitForApproval", wanted, _names(plan.awaiting_approval)))
    if expect.escalates is not None and expect.escalates != plan.escalates:
        differences.append(Difference("escalates", _bool(expect.escalates), _bool(plan.escalates)))
    return differences


def _numbers(indexes: Iterable[int]) -> str:
    shown = [str(i + 1) for i in indexes]
    return f"[{', '.join(shown)}]" if shown else "none"


def _names(names: Sequence[str]) -> str:
    return f"[{', '.join(names)}]" if names else "none"


def _bool(value: bool) -> str:
    return "true" if value else "false"
