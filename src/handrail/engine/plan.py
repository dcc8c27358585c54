"""What a plan of remediations asks of people: which steps run at once, wait for approval or a person, or escalate.

The incident workflow (`engine/incident.py`) branches on `step_kind` for every planned step, and
`handrail test` reads the same answers from `plan_remediations` without running anything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from handrail.runbook.model import Remediation, Runbook

__all__ = ["Plan", "PlannedStep", "StepKind", "plan_remediations", "step_kind"]


class StepKind(enum.StrEnum):
    AUTOMATIC = "automatic"
    """An automated action that runs without asking."""
    APPROVAL = "approval"
    """An automated action that waits for a person's approval first."""
    MANUAL = "manual"
    """A person does it and says done or skip."""
    ESCALATE = "escalate"
    """The escalation targets are paged; the incident is marked escalated and the plan goes on."""
    UNDEFINED = "undefined"
    """The runbook does not define it (lint refuses such runbooks; an old snapshot may not): skipped."""


def step_kind(remediation: Remediation) -> StepKind:
    """How the workflow carries out one remediation (`type` first: a manual step never waits for approval)."""
    if remediation.type == "escalate":
        return StepKind.ESCALATE
    if remediation.type == "manual":
        return StepKind.MANUAL
    if remediation.requires_approval:
        return StepKind.APPROVAL
    return StepKind.AUTOMATIC


@dataclass(frozen=True, slots=True)
class PlannedStep:
    remediation_id: str
    kind: StepKind


@dataclass(frozen=True, slots=True)
class Plan:
    """The planned remediations, in order, each with how it will be carried out."""

    steps: tuple[PlannedStep, ...]

    @property
    def remediation_ids(self) -> tuple[str, ...]:
        return tuple(step.remediation_id for step in self.steps)

    @property
    def awaiting_approval(self) -> tuple[str, ...]:
        """The steps that wait for a person's approval before their action runs."""
        return tuple(step.remediation_id for step in self.steps if step.kind is StepKind.APPROVAL)

    @property
    def escalates(self) -> bool:
        """True when the incident goes to people even if every approval is given and every action succeeds.

        That is: nothing is planned (the workflow escalates at once), an escalate step is planned,
        or no planned step can be carried out (the workflow escalates when nothing was performed).
        """
        kinds = {step.kind for step in self.steps}
        return StepKind.ESCALATE in kinds or not kinds & {StepKind.AUTOMATIC, StepKind.APPROVAL, StepKind.MANUAL}


def plan_remediations(runbook: Runbook, remediation_ids: Iterable[str]) -> Plan:
    """The plan for these remediation ids (an assessment's `recommended_actions`), in order."""
    steps = []
    for remediation_id in remediation_ids:
        remediation = runbook.remediation(remediation_id)
        kind = StepKind.UNDEFINED if remediation is None else step_kind(remediation)
        steps.append(PlannedStep(remediation_id, kind))
    return Plan(tuple(steps))
