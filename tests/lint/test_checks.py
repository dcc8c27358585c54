from __future__ import annotations

from pathlib import Path

from handrail.lint import lint_file, lint_paths

TINY = """\
id: tiny
name: Tiny
description: d
severity: P3
service: s
triggers: [{type: manual}]
diagnostics:
  - id: up
    name: Up
    description: d
    type: prometheus_query
    config: {query: up}
    derive:
      pct: value * 100
      high: pct > 90
    interpret: {critical: high, healthy: "!high"}
decisionTree:
  - condition: diagnostics.up.high == true && labels.env == 'prod'
    then: [page]
    description: d
  - otherwise: true
    then: [page]
    description: d
remediations:
  - {id: page, name: Page, description: d, type: escalate}
escalation: {primary: "#x"}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_derived_facts_are_names_for_later_facts_interpret_and_conditions(tmp_path: Path) -> None:
    result = lint_file(_write(tmp_path, "tiny.yaml", TINY))
    assert result.problems == ()


def test_derive_may_not_use_a_fact_defined_after_it(tmp_path: Path) -> None:
    text = TINY.replace(
        "      pct: value * 100\n      high: pct > 90\n", "      high: pct > 90\n      pct: value * 100\n"
    )
    problems = lint_file(_write(tmp_path, "tiny.yaml", text)).problems
    assert [(p.code, p.position.line) for p in problems] == [("HR202", 14)]


def test_derive_may_not_hide_a_provided_name(tmp_path: Path) -> None:
    text = TINY.replace("      pct: value * 100\n", "      pct: value * 100\n      count: 3\n")
    problems = lint_file(_write(tmp_path, "tiny.yaml", text)).problems
    assert [(p.code, p.position.line, p.position.column) for p in problems] == [("HR301", 15, 7)]


def test_range_queries_provide_trend_names_and_instant_queries_do_not(tmp_path: Path) -> None:
    trend = TINY.replace("      high: pct > 90\n", "      high: delta > 90\n")
    assert [p.code for p in lint_file(_write(tmp_path, "a.yaml", trend)).problems] == ["HR202"]
    ranged = trend.replace("config: {query: up}", "config: {query: up, range: 1h, step: 1m}")
    assert lint_file(_write(tmp_path, "b.yaml", ranged)).problems == ()


def test_duplicate_runbook_ids_across_files_are_reported_in_the_second(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", TINY)
    _write(tmp_path, "b.yaml", TINY)
    results = lint_paths([tmp_path])
    assert [p.code for p in results[0].problems] == []
    assert [(p.code, p.position.line) for p in results[1].problems] == [("HR301", 1)]


def test_scenario_and_hidden_files_are_not_runbooks(tmp_path: Path) -> None:
    _write(tmp_path, "tiny.yaml", TINY)
    _write(tmp_path, "tiny.test.yaml", "not: a runbook\n")
    (tmp_path / ".git").mkdir()
    _write(tmp_path / ".git", "config.yaml", "x: 1\n")
    assert [Path(r.path).name for r in lint_paths([tmp_path])] == ["tiny.yaml"]


def test_a_condition_that_handles_errors_satisfies_the_all_errors_check(tmp_path: Path) -> None:
    text = TINY.replace("  - otherwise: true\n", "  - condition: diagnostics.up.status == 'error'\n")
    assert lint_file(_write(tmp_path, "tiny.yaml", text)).problems == ()


def test_every_problem_in_a_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = TINY.replace("then: [page]", "then: [pag]").replace("diagnostics.up.high", "diagnostics.upp.high")
    codes = sorted(p.code for p in lint_file(_write(tmp_path, "tiny.yaml", text)).problems)
    assert codes == ["HR203", "HR302", "HR302", "HR401"]
