from __future__ import annotations

from pathlib import Path

import pytest

from handrail.explain import explain_markdown, explain_mermaid, explain_text
from handrail.lint import find_runbook_files, lint_file
from handrail.runbook.model import Runbook

EXAMPLES = Path(__file__).parents[1] / "examples" / "runbooks"


def _runbook(name: str) -> Runbook:
    runbook = lint_file(EXAMPLES / f"{name}.yaml").runbook
    assert runbook is not None
    return runbook


def test_text_names_diagnostics_in_decisions_instead_of_ids() -> None:
    text = explain_text(_runbook("payment-service-slow"))
    assert "├─ if Database Connection Pool status is 'critical'" in text
    assert "└─ otherwise (no other decision fired)" in text


def test_text_states_thresholds_in_words_with_durations_as_written() -> None:
    text = explain_text(_runbook("payment-service-slow"))
    assert "warning  when value is at least 70 and value is below 90" in text
    assert "warning  when any_slow is above 1000ms" in text
    assert "critical when since_deploy is below 5m" in text


def test_text_shows_instructions_under_the_decision_that_plans_them() -> None:
    text = explain_text(_runbook("payment-service-slow"))
    decision = text.index("if Database Connection Pool status is 'critical'")
    instructions = text.index("Raise DB_POOL_MAX by at most 50%")
    next_decision = text.index("if Recent Deployments status")
    assert decision < instructions < next_decision


def test_text_states_the_escalation_policy() -> None:
    text = explain_text(_runbook("payment-service-slow"))
    assert (
        "Notify #incidents-payment when the incident opens. If nobody acknowledges or resolves it within 15 minutes,"
        " notify #sre-escalation." in text
    )


def test_markdown_is_a_publishable_page() -> None:
    page = explain_markdown(_runbook("certificate-expiry"))
    assert page.startswith("# TLS Certificate Expiring\n")
    assert "| critical | expired or days_left is below 3 |" in page
    assert "## Escalation" in page
    assert '"cmctl"' in page  # the action's exact config, so reviewers see what runs


def test_mermaid_draws_every_decision_and_remediation() -> None:
    runbook = _runbook("payment-service-slow")
    chart = explain_mermaid(runbook)
    assert chart.count("diag --> d") == len(runbook.decision_tree)
    for index in range(len(runbook.remediations)):
        assert f"    r{index}" in chart
    assert "r2{{" not in chart or runbook.remediations[2].type == "escalate"


def test_mermaid_labels_cannot_break_out_of_quotes() -> None:
    runbook = _runbook("bad-deploy").model_copy(update={"name": 'Say "hi"]) --> x'})
    assert '"Say #quot;hi#quot;]) --> x"' in explain_mermaid(runbook)


@pytest.mark.parametrize("path", find_runbook_files(EXAMPLES), ids=lambda p: p.stem)
def test_every_example_explains_in_every_format(path: Path) -> None:
    runbook = lint_file(path).runbook
    assert runbook is not None
    for render in (explain_text, explain_markdown, explain_mermaid):
        output = render(runbook)
        assert runbook.name in output
        for remediation in runbook.remediations:
            assert remediation.name in output
