"""Rich output for people at a terminal: the live view of an assessment and its summary."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from handrail.engine import Assessment, DiagnosticResult, Status
from handrail.runbook.model import Diagnostic, Runbook

__all__ = ["LiveAssessmentView", "render_assessment"]

STATUS_STYLE = {
    Status.HEALTHY: "green",
    Status.WARNING: "yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "magenta",
    Status.ERROR: "red",
}


def _status(status: Status) -> Text:
    return Text(status.value, style=STATUS_STYLE[status])


class LiveAssessmentView:
    """Shows each diagnostic as it runs: running → status, with its duration."""

    def __init__(self, runbook: Runbook, console: Console) -> None:
        self._runbook = runbook
        self._rows: dict[str, tuple[Diagnostic, float, DiagnosticResult | None]] = {}
        self._live = Live(console=console, refresh_per_second=8, transient=True)

    def __enter__(self) -> LiveAssessmentView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def started(self, diagnostic: Diagnostic) -> None:
        self._rows[diagnostic.id] = (diagnostic, time.perf_counter(), None)
        self._live.update(self._table())

    def finished(self, result: DiagnosticResult) -> None:
        diagnostic, started, _ = self._rows.get(result.step_id, (None, time.perf_counter(), None))
        if diagnostic is not None:
            self._rows[result.step_id] = (diagnostic, started, result)
        self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(title=f"{self._runbook.name}: collecting evidence", expand=False)
        table.add_column("diagnostic")
        table.add_column("status")
        table.add_column("time", justify="right")
        for diagnostic, started, result in self._rows.values():
            if result is None:
                elapsed = time.perf_counter() - started
                table.add_row(diagnostic.name, Text("running…", style="cyan"), f"{elapsed:.1f}s")
            else:
                table.add_row(diagnostic.name, _status(result.status), f"{result.duration_ms / 1000:.2f}s")
        return table


def render_assessment(runbook: Runbook, assessment: Assessment) -> Group:
    """The summary: each result, the decisions that fired, and what to do next."""
    results = Table(title=f"{runbook.name} — overall {assessment.overall_severity.value}", expand=True)
    results.add_column("diagnostic", no_wrap=True)
    results.add_column("status", no_wrap=True)
    results.add_column("what it found")
    results.add_column("time", justify="right", no_wrap=True)
    for result in assessment.results:
        results.add_row(result.name, _status(result.status), result.message, f"{result.duration_ms / 1000:.2f}s")
    parts: list[Table | Text] = [results]
    fired = [d for d in assessment.decisions if d.matched]
    decisions = Text("\nDecisions that fired\n", style="bold")
    if not fired:
        decisions.append("  none\n")
    for decision in fired:
        label = "otherwise" if decision.otherwise else decision.condition or ""
        decisions.append(f"  • {decision.description}\n")
        decisions.append(f"    ({label})\n", style="dim")
    for decision in assessment.decisions:
        if decision.error:
            problem = f"  ! decision {decision.index + 1} could not be evaluated: {decision.error}\n"
            decisions.append(problem, style="red")
    parts.append(decisions)
    plan = Text("Recommended remediations (nothing has been run)\n", style="bold")
    if not assessment.recommended_actions:
        plan.append("  none\n")
    for number, remediation_id in enumerate(assessment.recommended_actions, 1):
        remediation = runbook.remediation(remediation_id)
        if remediation is None:
            continue
        approval = ", needs approval" if remediation.requires_approval else ""
        plan.append(f"  {number}. {remediation.name} [{remediation.id}] ({remediation.type}{approval})\n")
        for line in (remediation.instructions or "").strip().splitlines():
            plan.append(f"       {line}\n", style="dim")
    parts.append(plan)
    return Group(*parts)
