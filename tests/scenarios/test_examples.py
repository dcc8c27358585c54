"""Every starter runbook ships scenarios that pass and exercise every decision (and every status)."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from handrail.lint import find_runbook_files
from handrail.scenarios import Expectation, SuiteReport, run_suite
from handrail.scenarios.suite import scenario_files_for

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
RUNBOOKS = find_runbook_files(EXAMPLES)


@pytest.fixture(scope="module")
def report() -> SuiteReport:
    return asyncio.run(run_suite([EXAMPLES]))


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_starter_runbook_has_a_scenario_file(path: Path) -> None:
    assert scenario_files_for(path) == [path.with_name(f"{path.stem}.test.yaml")]


def test_starter_scenarios_are_clean_and_all_pass(report: SuiteReport) -> None:
    assert report.problems == (), "\n".join(str(p) for p in report.problems)
    assert report.orphans == ()
    assert len(report.runbooks) == len(RUNBOOKS)
    failed = {o.scenario.name: [str(d) for d in o.differences] for o in report.failed}
    assert failed == {}


@pytest.mark.parametrize("path", RUNBOOKS, ids=[p.stem for p in RUNBOOKS])
def test_starter_scenarios_exercise_every_decision_and_status(path: Path, report: SuiteReport) -> None:
    (runbook,) = [r for r in report.runbooks if r.path == str(path)]
    assert runbook.coverage is not None
    assert len(runbook.outcomes) >= len(runbook.coverage.decisions)
    assert runbook.coverage.missed_decisions == ()
    assert runbook.coverage.decision_tally.percent == 100.0
    assert runbook.coverage.missed_statuses == ()


def test_starter_scenarios_check_every_kind_of_expectation(report: SuiteReport) -> None:
    """Each expectation is used somewhere, and `otherwise` fires in a scenario where every probe fails."""
    expects = [o.scenario.expect for o in report.outcomes]
    assert all(any(getattr(e, name) is not None for e in expects) for name in Expectation.__dataclass_fields__)
    for runbook in report.runbooks:
        assert any(
            all(r.status.value == "error" for r in o.assessment.results) and o.plan.escalates for o in runbook.outcomes
        ), runbook.path


async def test_the_scenario_file_shown_in_the_docs_passes(tmp_path: Path) -> None:
    page = (Path(__file__).parents[2] / "docs" / "runbook-tests.md").read_text()
    (shown,) = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.DOTALL) if ".test.yaml" in b.splitlines()[0]]
    shutil.copy(EXAMPLES / "database-connection-exhaustion.yaml", tmp_path / "database-connection-exhaustion.yaml")
    (tmp_path / "database-connection-exhaustion.test.yaml").write_text(shown)
    report = await run_suite([tmp_path])
    assert report.problems == (), "\n".join(str(p) for p in report.problems)
    assert [o.passed for o in report.outcomes] == [True, True]
