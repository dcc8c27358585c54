"""How the workflow carries out each planned remediation, and when a plan goes to people regardless."""

from __future__ import annotations

import pytest

from handrail.engine.plan import Plan, PlannedStep, StepKind, plan_remediations, step_kind
from handrail.runbook.model import Remediation, Runbook

ACTION = {"type": "notify", "config": {"channel": "#x", "message": "hi"}}


def _remediation(kind: str, *, approval: bool = False) -> Remediation:
    return Remediation.model_validate(
        {
            "id": f"{kind}{'_approved' if approval else ''}",
            "name": kind,
            "description": kind,
            "type": kind,
            "requiresApproval": approval,
            **({"action": ACTION} if kind == "automated" else {}),
            **({"instructions": "do it"} if kind == "manual" else {}),
        }
    )


@pytest.mark.parametrize(
    ("kind", "approval", "expected"),
    [
        pytest.param("automated", False, StepKind.AUTOMATIC, id="automated"),
        pytest.param("automated", True, StepKind.APPROVAL, id="automated-approval"),
        pytest.param("manual", True, StepKind.MANUAL, id="manual-never-waits-for-approval"),
        pytest.param("escalate", True, StepKind.ESCALATE, id="escalate-never-waits-for-approval"),
    ],
)
def test_step_kind_follows_type_before_approval(kind: str, approval: bool, expected: StepKind) -> None:
    assert step_kind(_remediation(kind, approval=approval)) is expected


def _runbook() -> Runbook:
    remediations = [_remediation("automated"), _remediation("automated", approval=True), _remediation("manual")]
    remediations.append(_remediation("escalate"))
    return Runbook.model_validate(
        {
            "id": "r",
            "name": "r",
            "description": "",
            "severity": "P3",
            "service": "s",
            "triggers": [{"type": "manual"}],
            "diagnostics": [],
            "decisionTree": [],
            "remediations": [r.model_dump(by_alias=True) for r in remediations],
            "escalation": {"primary": "#x"},
        }
    )


@pytest.mark.parametrize(
    ("planned", "escalates"),
    [
        pytest.param([], True, id="nothing-planned"),
        pytest.param(["automated"], False, id="automatic"),
        pytest.param(["automated_approved", "manual"], False, id="approval-and-manual"),
        pytest.param(["automated", "escalate"], True, id="an-escalate-step"),
        pytest.param(["missing"], True, id="nothing-that-can-be-done"),
    ],
)
def test_plan_escalates_when_people_take_over_whatever_happens(planned: list[str], escalates: bool) -> None:
    assert plan_remediations(_runbook(), planned).escalates is escalates


def test_plan_keeps_order_and_names_the_steps_awaiting_approval() -> None:
    plan = plan_remediations(_runbook(), ["manual", "automated_approved", "missing", "automated"])
    assert plan == Plan(
        (
            PlannedStep("manual", StepKind.MANUAL),
            PlannedStep("automated_approved", StepKind.APPROVAL),
            PlannedStep("missing", StepKind.UNDEFINED),
            PlannedStep("automated", StepKind.AUTOMATIC),
        )
    )
    assert plan.awaiting_approval == ("automated_approved",)
    assert plan.remediation_ids == ("manual", "automated_approved", "missing", "automated")
