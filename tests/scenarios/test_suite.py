"""Finding runbooks and their scenario files, and what the suite reports for each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from handrail.catalog import Catalog
from handrail.lint import Policy, lint_paths
from handrail.scenarios import run_suite
from handrail.scenarios.suite import runbook_file_for, scenario_files_for

from .support import FIXTURES, INVALID, TINY


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    shutil.copy(FIXTURES / "tiny.test.yaml", tmp_path / "tiny.test.yaml")
    return tmp_path


def test_scenario_files_pair_with_the_runbook_beside_them(folder: Path) -> None:
    (folder / "other.json").write_text("{}")
    (folder / "other.test.yml").write_text("scenarios: []\n")
    assert scenario_files_for(folder / "tiny.yaml") == [folder / "tiny.test.yaml"]
    assert runbook_file_for(folder / "tiny.test.yaml") == folder / "tiny.yaml"
    assert runbook_file_for(folder / "other.test.yml") == folder / "other.json"
    assert runbook_file_for(folder / "ghost.test.yaml") is None


def test_the_catalog_and_lint_never_take_a_scenario_file_for_a_runbook(folder: Path) -> None:
    catalog = Catalog.load(folder)
    assert list(catalog.runbooks) == ["tiny"]
    assert catalog.broken == ()
    assert [Path(result.path).name for result in lint_paths([folder])] == ["tiny.yaml"]


@pytest.mark.parametrize("which", ["folder", "runbook", "scenario"])
async def test_a_folder_a_runbook_or_a_scenario_file_runs_the_same_scenarios(folder: Path, which: str) -> None:
    path = {"folder": folder, "runbook": folder / "tiny.yaml", "scenario": folder / "tiny.test.yaml"}[which]
    report = await run_suite([path])
    (runbook,) = report.runbooks
    assert runbook.path == str(folder / "tiny.yaml")
    assert [o.scenario.name for o in report.outcomes] == [
        "the service is down",
        "the service is slow",
        "nothing can be measured",
    ]
    assert report.passed
    assert report.tally.percent == 100.0


async def test_a_path_given_twice_runs_once(folder: Path) -> None:
    report = await run_suite([folder, folder / "tiny.yaml", folder / "tiny.test.yaml"])
    assert len(report.runbooks) == 1
    assert len(report.outcomes) == 3


async def test_a_runbook_without_scenarios_counts_as_uncovered(folder: Path) -> None:
    (folder / "tiny.test.yaml").unlink()
    report = await run_suite([folder])
    assert report.passed
    assert report.outcomes == ()
    assert (str(report.decision_tally), str(report.status_tally)) == ("0/3", "0/9")


async def test_a_scenario_file_without_a_runbook_is_an_error(folder: Path) -> None:
    shutil.copy(FIXTURES / "tiny.test.yaml", folder / "ghost.test.yaml")
    report = await run_suite([folder])
    (orphan,) = report.orphans
    assert [(p.code, p.position.line) for p in orphan.problems] == [("HR004", 1)]
    assert "ghost.yaml, ghost.yml, ghost.json" in orphan.problems[0].message
    assert not report.passed


async def test_a_broken_runbook_is_not_run_but_its_scenario_file_is_still_checked(folder: Path) -> None:
    (folder / "tiny.yaml").write_text(TINY.read_text().replace("then: [page]", "then: [pager]"))
    shutil.copy(INVALID / "wrong-types.yaml", folder / "tiny.test.yaml")
    report = await run_suite([folder])
    (runbook,) = report.runbooks
    assert runbook.coverage is None
    assert report.outcomes == ()
    assert sorted({p.code for p in report.errors}) == ["HR102", "HR302"]
    assert not report.passed


async def test_a_failing_scenario_fails_the_suite(folder: Path) -> None:
    text = (folder / "tiny.test.yaml").read_text().replace("escalates: true", "escalates: false")
    (folder / "tiny.test.yaml").write_text(text)
    report = await run_suite([folder])
    assert [o.scenario.name for o in report.failed] == ["nothing can be measured"]
    assert report.errors == ()
    assert not report.passed


async def test_a_runbook_that_breaks_the_policy_is_not_run(folder: Path) -> None:
    assert (await run_suite([folder], policy=Policy(allowed_targets=("#tiny",)))).passed
    report = await run_suite([folder], policy=Policy(allowed_targets=("#payments",)))
    assert report.outcomes == ()
    assert [p.code for p in report.errors] == ["HR704"]
    assert not report.passed
