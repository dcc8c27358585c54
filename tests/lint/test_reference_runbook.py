"""The reference runbook, transcribed faithfully, is reported with exactly its real problems."""

from __future__ import annotations

from pathlib import Path

from handrail.lint import lint_file

REFERENCE = Path(__file__).parents[1] / "fixtures" / "seed" / "payment-service-slow.json"

# (line, column, code, the name the problem is about)
EXPECTED = [
    # interpret names prometheus_query does not provide and no derive defines
    (24, 21, "HR202", "'all_ready'"),
    (25, 21, "HR202", "'ready_count'"),
    (25, 35, "HR202", "'total_count'"),
    (26, 22, "HR202", "'ready_count'"),
    # interpret names shell_command does not provide
    (69, 21, "HR202", "'no_recent_deploy'"),
    (70, 21, "HR202", "'deploy_within_30m'"),
    (71, 22, "HR202", "'deploy_within_5m'"),
    # every decision tests one status; when all probes fail (Prometheus down) nothing fires
    (93, 3, "HR402", "every diagnostic errors"),
    # the five remediations the decisions name but nobody defined
    (96, 41, "HR302", "'scale_db_connections'"),
    (106, 32, "HR302", "'escalate_infra'"),
    (111, 16, "HR302", "'enable_circuit_breaker'"),
    (111, 42, "HR302", "'notify_downstream'"),
    (116, 16, "HR302", "'capture_error_samples'"),
    # run_script `script` does not say which database the SQL runs on
    (128, 21, "HR305", "'script'"),
]


def test_reference_runbook_reports_exactly_its_real_problems() -> None:
    result = lint_file(REFERENCE)
    found = [(p.position.line, p.position.column, p.code) for p in result.problems]
    assert found == [(line, column, code) for line, column, code, _ in EXPECTED]
    for problem, (_, _, _, about) in zip(result.problems, EXPECTED, strict=True):
        assert about in problem.message


def test_reference_runbook_is_not_usable_until_fixed() -> None:
    result = lint_file(REFERENCE)
    assert result.runbook is None
    assert len(result.errors) == 13


def test_readme_and_format_page_say_what_the_reference_runbook_needs() -> None:
    result = lint_file(REFERENCE)
    root = Path(__file__).parents[2]
    for page in (root / "README.md", root / "docs" / "runbook-format.md"):
        text = " ".join(page.read_text().split())
        assert "load unchanged" not in text, page
        assert "loads unchanged" not in text, page
        assert f"{len(result.errors)} errors" in text, page
    # the reference's `script:` stays an error, and the error gives the fix
    (script,) = [problem for problem in result.problems if problem.code == "HR305"]
    assert "write SQL as `sql` with `database` (the connection)" in script.message
