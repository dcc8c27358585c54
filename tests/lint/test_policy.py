"""The team's policy (settings' `policy`): each rule broken and kept, at the runbook's line and column.

tests/fixtures/invalid/policy-*.yaml pin each code at its place (test_invalid_runbooks.py); here each
rule is also shown kept, and the bundled starter runbooks are checked against the policy docs/settings.md shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handrail.lint import Policy, lint_file, lint_paths
from handrail.settings import load_settings

ROOT = Path(__file__).parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"
EXAMPLES = ROOT / "examples" / "runbooks"
TINY = (INVALID / "not-allowed-by-settings.yaml").read_text().split("\n", 2)[2]
"""A small clean runbook: `restart` (restart_service, no approval) when down, `page` (escalate) otherwise."""


def _policy_problems(tmp_path: Path, text: str, policy: Policy) -> list[str]:
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    problems = lint_file(path, policy=policy).problems
    return [f"{p.position.line}:{p.position.column} {p.code}" for p in problems if p.code.startswith("HR7")]


def test_the_tiny_runbook_is_clean_without_a_policy(tmp_path: Path) -> None:
    assert _policy_problems(tmp_path, TINY, Policy()) == []


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        pytest.param(
            Policy(require_approval={"restart_service"}),
            TINY.replace("    type: automated\n", "    type: automated\n    requiresApproval: true\n"),
            id="approval-given",
        ),
        pytest.param(Policy(require_approval={"rollback", "scale_up"}), TINY, id="approval-for-other-types"),
        pytest.param(
            Policy(require_approval={"restart_service"}),
            TINY.replace("    type: automated\n", "    type: manual\n    instructions: restart it\n"),
            id="a-manual-step-never-acts",
        ),
        pytest.param(
            Policy(writing_sql_requires_approval=True),
            TINY.replace(
                "      type: restart_service\n      config:\n        command: [systemctl, restart, tiny]",
                "      type: run_script\n      config:\n        database: tiny\n"
                "        sql: SELECT id FROM sessions WHERE state IN ('idle')",
            ),
            id="sql-that-reads",
        ),
        pytest.param(Policy(require_fallback=True), TINY, id="fallback-escalates"),
        pytest.param(
            Policy(require_fallback=True),
            TINY.replace("    then: [page]", "    then: []"),
            id="fallback-that-plans-nothing-escalates-at-once",
        ),
        pytest.param(
            Policy(require_fallback=True),
            TINY.replace("    then: [page]", "    then: [restart]").replace(
                "    type: automated\n", "    type: automated\n    requiresApproval: true\n"
            ),
            id="fallback-waits-for-approval",
        ),
        pytest.param(Policy(max_escalate_after_minutes={"P3": 30}), TINY, id="the-default-30-minutes-within-the-bound"),
        pytest.param(Policy(max_escalate_after_minutes={"P1": 5}), TINY, id="a-severity-the-policy-does-not-name"),
        pytest.param(
            Policy(allowed_targets=("#ti*", "pagerduty:*")),
            TINY.replace('  primary: "#tiny"', '  primary: "#tiny"\n  secondary: pagerduty:sre'),
            id="targets-by-pattern",
        ),
    ],
)
def test_a_runbook_that_keeps_the_rule_has_no_policy_problem(tmp_path: Path, policy: Policy, text: str) -> None:
    assert _policy_problems(tmp_path, text, policy) == []


@pytest.mark.parametrize(
    ("policy", "text", "expected"),
    [
        pytest.param(
            Policy(require_approval={"restart_service"}),
            TINY.replace("    type: automated\n", "    type: automated\n    requiresApproval: false\n"),
            ["31:23 HR701"],
            id="approval-written-false",
        ),
        pytest.param(
            Policy(writing_sql_requires_approval=True),
            TINY.replace(
                "      type: restart_service\n      config:\n        command: [systemctl, restart, tiny]",
                "      type: run_script\n      config:\n        database: tiny\n"
                "        sql: WITH gone AS (DELETE FROM sessions RETURNING id) SELECT count(*) FROM gone",
            ),
            ["35:28 HR701"],
            id="a-with-that-deletes",
        ),
        pytest.param(
            Policy(require_fallback=True),
            TINY.replace("    then: [page]", "    then: [restart]").replace(
                "    then: [restart]\n    description: Down", "    then: [page]\n    description: Down"
            ),
            ["24:11 HR702"],
            id="fallback-only-acts",
        ),
        pytest.param(
            Policy(max_escalate_after_minutes={"P3": 20}), TINY, ["39:1 HR703"], id="the-default-over-the-bound"
        ),
        pytest.param(Policy(allowed_targets=("#payments",)), TINY, ["40:12 HR704"], id="primary-not-allowed"),
    ],
)
def test_a_runbook_that_breaks_the_rule_is_reported_at_the_value(
    tmp_path: Path, policy: Policy, text: str, expected: list[str]
) -> None:
    assert _policy_problems(tmp_path, text, policy) == expected


def test_policy_problems_are_errors_that_make_the_runbook_unusable(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    result = lint_file(path, policy=Policy(max_escalate_after_minutes={"P3": 20}))
    assert result.runbook is None
    assert result.runbook_id == "tiny"
    assert [str(p) for p in result.errors] == [
        f"{path}:39:1: HR703 escalateAfterMinutes is 30 (the default); the policy allows at most 20 for a P3 runbook"
    ]


def _documented_policy(tmp_path: Path, extra: str = "") -> Policy:
    """The example policy of docs/settings.md, read as the settings read it."""
    (block,) = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "settings.md").read_text(), re.DOTALL)
        if b.startswith("policy:")
    ]
    config = tmp_path / "handrail.yaml"
    config.write_text(block.replace("  requireApproval:\n", f"  requireApproval:\n{extra}"))
    return load_settings(config, environ={}).policy.checker()


def test_the_starter_runbooks_follow_the_policy_the_docs_show(tmp_path: Path) -> None:
    results = lint_paths([EXAMPLES], policy=_documented_policy(tmp_path))
    assert len(results) == 6
    assert [str(p) for r in results for p in r.problems] == []


def test_with_writing_sql_the_starter_runbooks_that_terminate_sessions_unasked_are_reported(tmp_path: Path) -> None:
    results = lint_paths([EXAMPLES], policy=_documented_policy(tmp_path, "    writingSql: true\n"))
    found = [(Path(p.path).name, p.position.line, p.code, p.message.split("'")[1]) for r in results for p in r.problems]
    assert found == [
        ("database-connection-exhaustion.yaml", 133, "HR701", "kill_idle_connections"),
        ("payment-service-slow.yaml", 137, "HR701", "kill_idle_connections"),
    ]
    assert "(at `pg_terminate_backend`)" in results[2].problems[0].message


def test_an_escalation_target_is_matched_as_written_since_the_engine_never_renders_it(tmp_path: Path) -> None:
    text = TINY.replace('  primary: "#tiny"', '  primary: "#{{ labels.team }}"')
    assert _policy_problems(tmp_path, text, Policy(allowed_targets=("#*",))) == []
    assert _policy_problems(tmp_path, text, Policy(allowed_targets=("#tiny",))) == ["40:12 HR704"]
