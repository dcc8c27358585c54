from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from handrail.engine import Assessment, DecisionResult, DiagnosticResult, Status, TimelineEvent
from handrail.lint import lint_file
from handrail.terminal import LiveAssessmentView, render_assessment

EXAMPLES = Path(__file__).parents[1] / "examples" / "runbooks"


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=160, color_system=None), buffer


def test_live_view_shows_running_then_status() -> None:
    runbook = lint_file(EXAMPLES / "payment-service-slow.yaml").runbook
    assert runbook is not None
    console, buffer = _console()
    diagnostic = runbook.diagnostics[0]
    with LiveAssessmentView(runbook, console) as view:
        view.started(diagnostic)
        view._live.refresh()
        assert "running…" in buffer.getvalue()
        view.finished(
            DiagnosticResult(diagnostic.id, diagnostic.name, diagnostic.type, Status.CRITICAL, "0 ready", 12.0)
        )
        view._live.refresh()
    assert "critical" in buffer.getvalue()


def test_summary_lists_results_fired_decisions_and_remediations_with_approval() -> None:
    runbook = lint_file(EXAMPLES / "payment-service-slow.yaml").runbook
    assert runbook is not None
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assessment = Assessment(
        runbook_id=runbook.id,
        triggered_at=now,
        results=(
            DiagnosticResult("check_recent_deploy", "Recent Deployments", "prometheus_query", Status.WARNING, "v", 3.0),
        ),
        decisions=(
            DecisionResult(
                1,
                "diagnostics.check_recent_deploy.status in ['warning', 'critical']",
                "Roll back",
                True,
                ("rollback_deployment",),
            ),
            DecisionResult(2, "x", "Broken", False, (), error="column 1: unknown name 'x'"),
        ),
        recommended_actions=("rollback_deployment", "raise_db_pool"),
        overall_severity=Status.WARNING,
        timeline=(TimelineEvent(now, "triggered"),),
    )
    console, buffer = _console()
    console.print(render_assessment(runbook, assessment))
    text = buffer.getvalue()
    assert "overall warning" in text
    assert "Recent Deployments" in text
    assert "• Roll back" in text
    assert "decision 3 could not be evaluated: column 1: unknown name 'x'" in text
    assert "1. Rollback to Previous Version [rollback_deployment] (automated, needs approval)" in text
    assert "2. Increase the Connection Pool [raise_db_pool] (manual)" in text
    assert "Raise DB_POOL_MAX" in text
