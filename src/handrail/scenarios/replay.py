"""`handrail replay`: a runbook, as it is now, over the incidents its id already met (docs/replay.md).

Each past incident recorded every diagnostic's raw values (or its probe's error). A replay hands
those to the runbook's `derive`, `interpret`, decision tree and plan through the same simulated
probes `handrail test` uses (`scenarios/simulation.py`) and the production `assess` and
`plan_remediations`: nothing is queried and nothing runs. What it planned then is compared with
what it would plan now: statuses, decisions fired, remediations, which wait for approval, whether
the incident goes to people. A diagnostic the history has no result for reads as no data.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handrail.engine.assessment import Assessment, assess
from handrail.engine.plan import Plan, plan_remediations
from handrail.runbook.model import Runbook
from handrail.scenarios.history import PastIncident, RecordedAssessment
from handrail.scenarios.load import SimulatedOutput
from handrail.scenarios.simulation import simulated_probes

__all__ = [
    "NO_DATA",
    "Change",
    "IncidentReplay",
    "Outcome",
    "ReplayReport",
    "replay",
    "replay_incident",
    "replay_now",
]

NO_DATA = "no recorded result: read as no data (replay)"
"""The probe message of a diagnostic the incident has no result for."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an assessment decided, in the terms a replay compares."""

    statuses: Mapping[str, str]
    decisions: tuple[str, ...]
    """The descriptions of the decisions that fired, in tree order (a decision is known by its description)."""
    remediations: tuple[str, ...]
    awaiting_approval: tuple[str, ...]
    escalates: bool | None
    """None when the recorded runbook snapshot no longer loads, so its plan's kinds are unknown."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "statuses": dict(self.statuses),
            "decisions": list(self.decisions),
            "remediations": list(self.remediations),
            "waitForApproval": list(self.awaiting_approval),
            "escalates": self.escalates,
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One way the runbook now decides differently: what, then, now."""

    what: str
    then: str
    now: str

    def __str__(self) -> str:
        return f"{self.what}: {self.then} → {self.now}"

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "then": self.then, "now": self.now}


@dataclass(frozen=True, slots=True)
class IncidentReplay:
    """One past incident: what it decided then, what the runbook decides now, how they differ, and notes."""

    incident: PastIncident
    then: Outcome
    now: Outcome
    changes: tuple[Change, ...]
    notes: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def headline(self, count: int = 1) -> str:
        """The change in a few words, its verb agreeing with `count` incidents ("now escalate instead of x")."""
        then, now = self.then, self.now
        one = count == 1
        if now.escalates and then.escalates is False:
            verb = "escalates" if one else "escalate"
            return f"now {verb} instead of {_listed(then.remediations)}"
        if then.escalates and now.escalates is False:
            verb = "escalates" if one else "escalate"
            return f"no longer {verb} (now {_listed(now.remediations)})"
        if set(now.awaiting_approval) - set(then.awaiting_approval):
            return f"now {'waits' if one else 'wait'} for approval"
        if set(then.awaiting_approval) - set(now.awaiting_approval):
            return f"no longer {'waits' if one else 'wait'} for approval"
        if then.remediations != now.remediations:
            verb = "plans" if one else "plan"
            return f"now {verb} {_listed(now.remediations)} instead of {_listed(then.remediations)}"
        if then.decisions != now.decisions:
            return f"{'fires' if one else 'fire'} other decisions, same plan"
        return f"{'reads' if one else 'read'} other statuses, same plan"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.incident.id,
            "triggeredAt": self.incident.triggered_at.isoformat(),
            "state": self.incident.state,
            "changed": self.changed,
            "headline": self.headline() if self.changed else None,
            "then": self.then.to_dict(),
            "now": self.now.to_dict(),
            "changes": [change.to_dict() for change in self.changes],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """A runbook over its history: one replay per incident with a recorded assessment, newest first as given."""

    runbook_id: str
    replays: tuple[IncidentReplay, ...]
    skipped: int = 0
    """Incidents with no recorded assessment (closed before their diagnostics ran): nothing to replay."""

    @property
    def changed(self) -> tuple[IncidentReplay, ...]:
        return tuple(r for r in self.replays if r.changed)

    def notes(self) -> list[tuple[str, int]]:
        """Each note, and in how many incidents it was made, most frequent first."""
        return Counter(note for r in self.replays for note in r.notes).most_common()

    def summary(self) -> str:
        """`42 past incidents: 39 unchanged, 3 change (2 now escalate instead of x, 1 now waits for approval)`."""
        total, changed = len(self.replays), self.changed
        noun = "past incident" if total == 1 else "past incidents"
        text = f"{total} {noun}: {total - len(changed)} unchanged"
        if changed:
            groups: dict[str, list[IncidentReplay]] = {}
            for item in changed:
                groups.setdefault(item.headline(), []).append(item)
            kinds = sorted(groups.values(), key=len, reverse=True)
            parts = ", ".join(f"{len(group)} {group[0].headline(len(group))}" for group in kinds)
            text += f", {len(changed)} {'changes' if len(changed) == 1 else 'change'} ({parts})"
        if self.skipped:
            text += f"; {self.skipped} without a recorded assessment, skipped"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "runbookId": self.runbook_id,
            "summary": self.summary(),
            "incidents": len(self.replays),
            "unchanged": len(self.replays) - len(self.changed),
            "changed": len(self.changed),
            "skipped": self.skipped,
            "notes": [{"note": note, "incidents": count} for note, count in self.notes()],
            "replays": [r.to_dict() for r in self.replays],
        }


async def replay(runbook: Runbook, history: Iterable[PastIncident]) -> ReplayReport:
    """Replay every incident of `history` that belongs to `runbook`'s id and recorded an assessment."""
    replays, skipped = [], 0
    snapshots: dict[str, Runbook | None] = {}  # most incidents ran one of a few versions: each is validated once
    for incident in history:
        if incident.runbook_id != runbook.id:
            continue
        if incident.assessment is None:
            skipped += 1
            continue
        replays.append(await replay_incident(runbook, incident, incident.assessment, snapshots=snapshots))
    return ReplayReport(runbook.id, tuple(replays), skipped)


def replay_now(runbook: Runbook, history: Sequence[PastIncident]) -> ReplayReport:
    """`replay`, blocking, on a loop of its own: for a worker thread (the console computes it off its loop)."""
    return asyncio.run(replay(runbook, history))


async def replay_incident(
    runbook: Runbook,
    incident: PastIncident,
    recorded: RecordedAssessment,
    *,
    snapshots: dict[str, Runbook | None] | None = None,
) -> IncidentReplay:
    """The runbook over one incident's recorded results, compared with what the incident decided."""
    snapshot = _snapshot(incident, {} if snapshots is None else snapshots)
    outputs, notes = _outputs(runbook, snapshot, recorded)
    probes = simulated_probes(runbook, outputs)
    assessment = await assess(runbook, probes=probes, labels=incident.labels, annotations=incident.annotations)
    now = _outcome(assessment, plan_remediations(runbook, assessment.recommended_actions))
    then = _recorded_outcome(incident, recorded, snapshot)
    return IncidentReplay(incident, then, now, tuple(_changes(then, now)), tuple(notes))


def _snapshot(incident: PastIncident, seen: dict[str, Runbook | None]) -> Runbook | None:
    """The runbook the incident ran; None when it no longer loads (recorded by an older version)."""
    if incident.runbook is None:
        return None
    key = json.dumps(incident.runbook, sort_keys=True, default=str)
    if key not in seen:
        try:
            seen[key] = Runbook.model_validate(incident.runbook)
        except ValidationError:
            seen[key] = None
    return seen[key]


def _outputs(
    runbook: Runbook, snapshot: Runbook | None, recorded: RecordedAssessment
) -> tuple[dict[str, SimulatedOutput], list[str]]:
    outputs: dict[str, SimulatedOutput] = {}
    notes: list[str] = []
    for diagnostic in runbook.diagnostics:
        result = recorded.result(diagnostic.id)
        if result is None:
            outputs[diagnostic.id] = SimulatedOutput({}, message=NO_DATA)
            notes.append(f"{diagnostic.id}: no recorded result, read as no data")
            continue
        if result.raw_value is None:
            outputs[diagnostic.id] = SimulatedOutput({}, error=result.message or "the probe failed")
        else:
            outputs[diagnostic.id] = SimulatedOutput(result.raw_value, message=result.probe_message or result.message)
        old = snapshot.diagnostic(diagnostic.id) if snapshot is not None else None
        if old is not None and (old.type, old.config) != (diagnostic.type, diagnostic.config):
            notes.append(f"{diagnostic.id}: its config changed; the recorded result answered the old one")
    ids = {d.id for d in runbook.diagnostics}
    for result in recorded.diagnostic_results:
        if result.step_id not in ids:
            notes.append(f"{result.step_id}: no longer in the runbook")
    return outputs, notes


def _outcome(assessment: Assessment, plan: Plan) -> Outcome:
    return Outcome(
        statuses={r.step_id: r.status.value for r in assessment.results},
        decisions=tuple(d.description for d in assessment.decisions if d.matched),
        remediations=plan.remediation_ids,
        awaiting_approval=plan.awaiting_approval,
        escalates=plan.escalates,
    )


def _recorded_outcome(incident: PastIncident, recorded: RecordedAssessment, snapshot: Runbook | None) -> Outcome:
    plan = plan_remediations(snapshot, incident.plan) if snapshot is not None else None
    return Outcome(
        statuses={r.step_id: r.status.value for r in recorded.diagnostic_results},
        decisions=tuple(d.description for d in recorded.decisions if d.matched),
        remediations=tuple(incident.plan),
        awaiting_approval=plan.awaiting_approval if plan is not None else (),
        escalates=plan.escalates if plan is not None else None,
    )


def _changes(then: Outcome, now: Outcome) -> list[Change]:
    changes = [
        Change(f"statuses.{step}", status, now.statuses[step])
        for step, status in then.statuses.items()
        if step in now.statuses and now.statuses[step] != status
    ]
    if then.decisions != now.decisions:
        changes.append(Change("decisions", _quoted(then.decisions), _quoted(now.decisions)))
    if then.remediations != now.remediations:
        changes.append(Change("remediations", _listed(then.remediations), _listed(now.remediations)))
    if then.escalates is not None:
        if set(then.awaiting_approval) != set(now.awaiting_approval):
            changes.append(Change("waitForApproval", _listed(then.awaiting_approval), _listed(now.awaiting_approval)))
        if then.escalates != now.escalates:
            changes.append(Change("escalates", _bool(then.escalates), _bool(now.escalates)))
    return changes


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "nothing"


def _quoted(descriptions: Sequence[str]) -> str:
    return "; ".join(f'"{d}"' for d in descriptions) if descriptions else "none"


def _bool(value: bool | None) -> str:
    return "unknown" if value is None else "true" if value else "false"
