"""The starter library lints clean with --strict and covers the top five incident types."""

from __future__ import annotations

from pathlib import Path

import pytest

from handrail.lint import find_runbook_files, lint_file, lint_paths

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
FILES = find_runbook_files(EXAMPLES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_runbook_has_no_problem_at_all(path: Path) -> None:
    result = lint_file(path)
    assert result.problems == (), "\n".join(str(p) for p in result.problems)
    assert result.runbook is not None


def test_starter_library_covers_the_reference_and_top_five_incident_types() -> None:
    ids = {result.runbook.id for result in lint_paths([EXAMPLES]) if result.runbook}
    assert ids == {
        "payment-service-slow",
        "database-connection-exhaustion",
        "oom-kills",
        "bad-deploy",
        "downstream-dependency-failure",
        "certificate-expiry",
    }


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_runbook_escalates_when_every_probe_fails(path: Path) -> None:
    runbook = lint_file(path).runbook
    assert runbook is not None
    assert any(decision.otherwise for decision in runbook.decision_tree)


def test_corrected_payment_runbook_defines_every_remediation_the_reference_named() -> None:
    runbook = lint_file(EXAMPLES / "payment-service-slow.yaml").runbook
    assert runbook is not None
    planned = {rid for decision in runbook.decision_tree for rid in decision.then}
    assert {"kill_idle_connections", "rollback_deployment", "restart_pods", "escalate_oncall"} <= planned
    kill = runbook.remediation("kill_idle_connections")
    assert kill is not None
    assert kill.action is not None
    assert kill.action.config["database"] == "payments"
    assert "pg_terminate_backend" in kill.action.config["sql"]


def test_a_shell_glob_over_the_folder_lints_the_runbooks_and_leaves_the_scenarios_to_handrail_test() -> None:
    everything = sorted(EXAMPLES.glob("*.yaml"))  # what `handrail lint examples/runbooks/*.yaml` passes
    assert any(p.name.endswith(".test.yaml") for p in everything)
    results = lint_paths(everything)
    assert sorted(Path(r.path).name for r in results) == sorted(p.name for p in FILES)
    assert all(r.problems == () for r in results)
