"""`handrail incidents scenario ID`: a real incident as a scenario for `handrail test` (docs/replay.md).

The probes return what the incident recorded (raw values, or the probe's error), the labels are
the alert's, and the expectations are what happened: every status, the decisions that fired,
the remediations planned, which waited for approval and whether it went to people — all against
the runbook as the incident ran it. Printed as a scenario file, ready to add to `<runbook>.test.yaml`.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.engine.plan import plan_remediations
from handrail.errors import HistoryError
from handrail.runbook.model import Diagnostic, Runbook
from handrail.scenarios.history import PastIncident, RecordedAssessment, RecordedResult

__all__ = ["captured_scenario", "scenario_text"]


def captured_scenario(incident: PastIncident) -> dict[str, Any]:
    """The incident as one scenario (plain values, in the scenario file's keys)."""
    if incident.assessment is None:
        raise HistoryError(f"{incident.id} has no recorded assessment (it closed before its diagnostics ran)")
    try:
        runbook = Runbook.model_validate(incident.runbook or {})
    except ValidationError as exc:
        raise HistoryError(f"{incident.id}: the runbook it ran no longer loads in this version") from exc
    recorded = incident.assessment
    plan = plan_remediations(runbook, incident.plan)
    expect: dict[str, Any] = {
        "statuses": {
            d.id: result.status.value for d in runbook.diagnostics if (result := recorded.result(d.id)) is not None
        },
        "decisions": _fired(runbook, recorded),
        "remediations": list(incident.plan),
        "waitForApproval": list(plan.awaiting_approval),
        "escalates": plan.escalates,
    }
    return {
        "name": f"{incident.id} ({incident.triggered_at:%Y-%m-%d %H:%M} UTC, {incident.state or 'recorded'})",
        "labels": dict(incident.labels),
        "diagnostics": {d.id: _output(d, recorded.result(d.id)) for d in runbook.diagnostics},
        "expect": expect,
    }


def scenario_text(incident: PastIncident) -> str:
    """The scenario as a scenario file (YAML) that `handrail test` runs as printed."""
    header = (
        f"# Scenario from incident {incident.id} of runbook {incident.runbook_id}, as it ran then.\n"
        f"# Save as {incident.runbook_id}.test.yaml beside the runbook, or add the scenario to that file's list.\n"
    )
    document = {"scenarios": [captured_scenario(incident)]}
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def _output(diagnostic: Diagnostic, result: RecordedResult | None) -> dict[str, Any]:
    if result is None:
        return {}  # every name reads null: no data, as it did not run then
    if result.raw_value is None:
        return {"error": result.message or "the probe failed"}
    try:
        provided = DIAGNOSTIC_PARAMS[diagnostic.type].model_validate(diagnostic.config).provided_names()
    except ValidationError:
        return dict(result.raw_value)
    return {name: value for name, value in result.raw_value.items() if name in provided}


def _fired(runbook: Runbook, recorded: RecordedAssessment) -> list[int | str]:
    """Fired decisions by description when it names one decision, else by 1-based position."""
    fired: list[int | str] = []
    descriptions = [d.description for d in runbook.decision_tree]
    for decision in recorded.decisions:
        if not decision.matched:
            continue
        if descriptions.count(decision.description) == 1:
            fired.append(decision.description)
        elif decision.index is not None:
            fired.append(decision.index + 1)
    return fired
