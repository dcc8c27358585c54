"""Scenario files are read strictly: every broken one names the place, with the runbook codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handrail.engine import Status
from handrail.runbook.model import Runbook
from handrail.scenarios import load_scenario_file
from handrail.scenarios.load import SimulatedOutput

from .support import FIXTURES, INVALID, TINY, load_runbook

EXPECT = re.compile(r"^# expect: (\d+):(\d+) (HR\d{3})$", re.MULTILINE)
FILES = sorted(INVALID.glob("*.yaml"))


@pytest.fixture(scope="module")
def tiny() -> Runbook:
    return load_runbook()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_broken_scenario_file_reports_pinned_problems(path: Path, tiny: Runbook) -> None:
    expected = [(int(line), int(col), code) for line, col, code in EXPECT.findall(path.read_text())]
    assert expected, f"{path.name} pins no expectation"
    loaded = load_scenario_file(path, tiny)
    found = [(p.position.line, p.position.column, p.code) for p in loaded.problems]
    assert sorted(found) == sorted(expected), "\n".join(str(p) for p in loaded.problems)
    assert loaded.scenarios == ()
    for problem in loaded.problems:
        assert str(problem).startswith(f"{path}:{problem.position.line}:{problem.position.column}: {problem.code} ")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("unknown-diagnostic", "no such diagnostic; did you mean 'up'?", id="diagnostic-id"),
        pytest.param("unknown-raw-name", "prometheus_query does not provide it; did you mean 'value'?", id="raw-name"),
        pytest.param("derived-name-given", "'slow' is computed by `derive`", id="derived-name"),
        pytest.param("unknown-decision", "no decision described 'Down — restart'; did you mean 'Down — restart it'?"),
        pytest.param("unknown-remediation", "waitForApproval[1]: the runbook has no remediation 'pag'; did you mean"),
        pytest.param("unknown-status-diagnostic", "expect.statuses: the runbook has no such diagnostic"),
        pytest.param("unknown-top-key", "'scenario' at the top of the scenario file; did you mean 'scenarios'?"),
        pytest.param("missing-diagnostics", "for 'latency', 'health' (give every diagnostic"),
    ],
)
def test_problem_messages_say_what_would_be_right(name: str, fragment: str, tiny: Runbook) -> None:
    messages = [problem.message for problem in load_scenario_file(INVALID / f"{name}.yaml", tiny).problems]
    assert any(fragment in message for message in messages), messages


def test_valid_file_resolves_labels_outputs_decisions_and_expectations(tiny: Runbook) -> None:
    loaded = load_scenario_file(FIXTURES / "tiny.test.yaml", tiny)
    assert loaded.problems == ()
    down, slow, broken = loaded.scenarios
    assert down.labels == {"namespace": "shop"}
    assert slow.labels == {"namespace": "shop", "pod": "tiny-7f9c"}
    assert down.outputs["up"] == SimulatedOutput({"value": 0})
    assert broken.outputs["up"] == SimulatedOutput({}, "timeout")
    assert down.expect.statuses == {"up": Status.CRITICAL, "latency": Status.HEALTHY, "health": Status.CRITICAL}
    # by position (1-based), by description, and `otherwise`: all become 0-based indexes
    assert (down.expect.decisions, slow.expect.decisions, broken.expect.decisions) == ((0,), (1,), (2,))
    assert down.expect.wait_for_approval == ("restart",)
    assert broken.expect.escalates is True
    assert broken.expect.wait_for_approval is None  # not given: not checked
    assert (down.path, down.line) == (str(FIXTURES / "tiny.test.yaml"), 6)


def test_without_a_runbook_only_the_shape_is_checked() -> None:
    assert load_scenario_file(FIXTURES / "tiny.test.yaml", None).problems == ()
    assert [p.code for p in load_scenario_file(INVALID / "wrong-types.yaml", None).problems] == ["HR102"] * 3
    assert load_scenario_file(INVALID / "unknown-diagnostic.yaml", None).problems == ()


def test_two_diagnostics_with_one_config_cannot_see_different_output(tmp_path: Path) -> None:
    twin = TINY.read_text().replace(
        'tiny_latency_p99{job="tiny"}', 'up{job="tiny", namespace="{{ labels.namespace }}"}'
    )
    (tmp_path / "twin.yaml").write_text(twin)
    runbook = load_runbook(tmp_path / "twin.yaml")
    scenario = """\
scenarios:
  - name: same query
    diagnostics: {up: {value: 0}, latency: {value: %s}, health: {all_healthy: true}}
    expect: {escalates: false}
"""
    (tmp_path / "split.yaml").write_text(scenario % "1")
    problems = load_scenario_file(tmp_path / "split.yaml", runbook).problems
    assert [(p.position.line, p.code) for p in problems] == [(3, "HR105")]
    assert "'latency' runs the same prometheus_query probe with the same config as 'up'" in problems[0].message
    (tmp_path / "same.yaml").write_text(scenario % "0")
    assert load_scenario_file(tmp_path / "same.yaml", runbook).problems == ()


def test_an_unreadable_file_is_a_problem_not_a_traceback(tmp_path: Path, tiny: Runbook) -> None:
    missing = load_scenario_file(tmp_path / "nope.test.yaml", tiny)
    assert [p.code for p in missing.problems] == ["HR004"]
    (tmp_path / "bomb.test.yaml").write_text(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(10)
        )
    )
    assert [p.code for p in load_scenario_file(tmp_path / "bomb.test.yaml", tiny).problems] == ["HR002"]
