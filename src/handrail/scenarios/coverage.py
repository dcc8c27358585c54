"""Decision-tree coverage: which decisions fired and which statuses each diagnostic read, over all scenarios.

A diagnostic can read each status its `interpret` defines (critical and warning when given,
healthy always) and `error` (every probe can fail). `unknown` — no condition held — is not
counted: in a well-written interpret it cannot happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from handrail.engine.assessment import Assessment, Status
from handrail.runbook.model import Diagnostic, Runbook

__all__ = [
    "Coverage",
    "DecisionCoverage",
    "StatusCoverage",
    "Tally",
    "measure_coverage",
    "possible_statuses",
]


@dataclass(frozen=True, slots=True)
class Tally:
    """`covered` of `total`, and the percentage (100 when there is nothing to cover)."""

    covered: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.covered + other.covered, self.total + other.total)

    def __str__(self) -> str:
        return f"{self.covered}/{self.total}"


@dataclass(frozen=True, slots=True)
class DecisionCoverage:
    index: int
    """0-based position in `decisionTree` (shown 1-based)."""
    description: str
    otherwise: bool
    exercised: bool


@dataclass(frozen=True, slots=True)
class StatusCoverage:
    diagnostic_id: str
    status: Status
    exercised: bool


@dataclass(frozen=True, slots=True)
class Coverage:
    """One runbook's coverage: every decision and every possible status, each exercised or not."""

    decisions: tuple[DecisionCoverage, ...]
    statuses: tuple[StatusCoverage, ...]

    @property
    def decision_tally(self) -> Tally:
        return Tally(sum(d.exercised for d in self.decisions), len(self.decisions))

    @property
    def status_tally(self) -> Tally:
        return Tally(sum(s.exercised for s in self.statuses), len(self.statuses))

    @property
    def tally(self) -> Tally:
        """Decisions and statuses together: the figure `--min-coverage` compares with."""
        return self.decision_tally + self.status_tally

    @property
    def missed_decisions(self) -> tuple[DecisionCoverage, ...]:
        return tuple(d for d in self.decisions if not d.exercised)

    @property
    def missed_statuses(self) -> tuple[StatusCoverage, ...]:
        return tuple(s for s in self.statuses if not s.exercised)


def possible_statuses(diagnostic: Diagnostic) -> tuple[Status, ...]:
    """The statuses a diagnostic can read: those its interpret defines, and error."""
    defined = [
        status
        for status in (Status.CRITICAL, Status.WARNING, Status.HEALTHY)
        if getattr(diagnostic.interpret, status.value) is not None
    ]
    return (*defined, Status.ERROR)


def measure_coverage(runbook: Runbook, assessments: Iterable[Assessment]) -> Coverage:
    """What these assessments of `runbook` exercised, against everything it could do."""
    seen: Sequence[Assessment] = list(assessments)
    fired = {d.index for a in seen for d in a.decisions if d.matched}
    read = {(r.step_id, r.status) for a in seen for r in a.results}
    decisions = tuple(
        DecisionCoverage(index, decision.description, decision.otherwise, index in fired)
        for index, decision in enumerate(runbook.decision_tree)
    )
    statuses = tuple(
        StatusCoverage(diagnostic.id, status, (diagnostic.id, status) in read)
        for diagnostic in runbook.diagnostics
        for status in possible_statuses(diagnostic)
    )
    return Coverage(decisions, statuses)
