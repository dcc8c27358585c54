"""Is MTTR falling? Incidents per week and per runbook: counts, MTTA, MTTR, what fires, what resolves.

Computed from the incident records themselves (times, the assessment's decisions, the plan, the
outcome), so the figures are exactly what the incident pages and reports show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from handrail.engine.service import IncidentRecord
from handrail.handoff import durations

__all__ = ["Analytics", "Outcome", "Period", "analyse"]


@dataclass(slots=True)
class Period:
    """Incidents of one week or one runbook, with the mean times to acknowledge and to resolve."""

    label: str
    incidents: int = 0
    resolved: int = 0
    escalated: int = 0
    _acknowledge: list[float] = field(default_factory=list)
    _resolve: list[float] = field(default_factory=list)

    def add(self, record: IncidentRecord) -> None:
        self.incidents += 1
        self.resolved += record.state.value == "resolved"
        self.escalated += record.escalated
        times = durations(record)
        if times["timeToAcknowledge"] is not None:
            self._acknowledge.append(times["timeToAcknowledge"].total_seconds())
        if times["timeToResolve"] is not None:
            self._resolve.append(times["timeToResolve"].total_seconds())

    @property
    def mtta_minutes(self) -> float | None:
        return _mean_minutes(self._acknowledge)

    @property
    def mttr_minutes(self) -> float | None:
        return _mean_minutes(self._resolve)


@dataclass(slots=True)
class Outcome:
    """How the incidents that planned one remediation ended."""

    runbook_id: str
    remediation: str
    planned: int = 0
    resolved: int = 0
    escalated: int = 0


@dataclass(frozen=True, slots=True)
class Analytics:
    weeks: tuple[Period, ...]
    runbooks: tuple[Period, ...]
    decisions: tuple[tuple[str, str, int], ...]
    """(runbook id, decision, times it fired), most first."""
    remediations: tuple[Outcome, ...]
    since: date


def analyse(records: Iterable[IncidentRecord], *, today: date, weeks: int = 12) -> Analytics:
    """Group the incidents opened in the last `weeks` weeks (Monday to Sunday, UTC) up to `today`."""
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    by_week = {
        first_monday + timedelta(weeks=n): Period(_week_label(first_monday + timedelta(weeks=n))) for n in range(weeks)
    }
    by_runbook: dict[str, Period] = {}
    fired: Counter[tuple[str, str]] = Counter()
    outcomes: dict[tuple[str, str], Outcome] = {}
    for record in records:
        if record.dry_run:
            continue
        monday = _monday(record.created_at)
        if monday not in by_week:
            continue
        by_week[monday].add(record)
        by_runbook.setdefault(record.runbook_id, Period(record.runbook_id)).add(record)
        for decision in (record.assessment or {}).get("decisions", []):
            if decision.get("matched"):
                fired[(record.runbook_id, decision.get("description") or decision.get("condition") or "otherwise")] += 1
        if record.is_open:
            continue
        for remediation in record.plan:
            outcome = outcomes.setdefault((record.runbook_id, remediation), Outcome(record.runbook_id, remediation))
            outcome.planned += 1
            outcome.resolved += record.state.value == "resolved" and not record.escalated
            outcome.escalated += record.escalated
    return Analytics(
        weeks=tuple(by_week.values()),
        runbooks=tuple(sorted(by_runbook.values(), key=lambda p: (-p.incidents, p.label))),
        decisions=tuple((rb, text, n) for (rb, text), n in sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))),
        remediations=tuple(sorted(outcomes.values(), key=lambda o: (-o.planned, o.runbook_id, o.remediation))),
        since=first_monday,
    )


def _monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def _week_label(monday: date) -> str:
    return f"{monday:%d %b}"


def _mean_minutes(seconds: Sequence[float]) -> float | None:
    return round(sum(seconds) / len(seconds) / 60, 1) if seconds else None
