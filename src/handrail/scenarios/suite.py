"""`handrail test`: find runbooks and their scenario files, lint them, run every scenario, measure coverage.

A scenario file sits beside its runbook and is named after it: `payments.yaml` is tested by
`payments.test.yaml` (or `.test.yml`, `.test.json`). Paths may be folders (every runbook below,
with its scenarios), runbook files or scenario files.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from handrail.lint import LintResult, Policy, find_runbook_files, lint_paths
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Position, Problem, Severity
from handrail.runbook.source import RUNBOOK_SUFFIXES, SCENARIO_SUFFIXES
from handrail.safety import AllowList
from handrail.scenarios.coverage import Coverage, Tally, measure_coverage
from handrail.scenarios.load import LoadedScenarios, load_scenario_file
from handrail.scenarios.run import ScenarioOutcome, run_scenario

__all__ = [
    "RUNBOOK_SUFFIXES",
    "SCENARIO_SUFFIXES",
    "RunbookReport",
    "SuiteReport",
    "is_scenario_file",
    "run_suite",
    "runbook_file_for",
    "scenario_files_for",
]


@dataclass(frozen=True, slots=True)
class RunbookReport:
    """One runbook: its lint result, its scenario files, what each scenario did, and its coverage."""

    lint: LintResult
    scenario_files: tuple[LoadedScenarios, ...]
    outcomes: tuple[ScenarioOutcome, ...]
    coverage: Coverage | None
    """None when the runbook has lint errors (its scenarios cannot run)."""

    @property
    def path(self) -> str:
        return self.lint.path

    @property
    def runbook(self) -> Runbook | None:
        return self.lint.runbook

    @property
    def problems(self) -> tuple[Problem, ...]:
        return (*self.lint.problems, *(p for f in self.scenario_files for p in f.problems))

    @property
    def failed(self) -> tuple[ScenarioOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.passed)


@dataclass(frozen=True, slots=True)
class SuiteReport:
    """Everything `handrail test` found, in path order."""

    runbooks: tuple[RunbookReport, ...]
    orphans: tuple[LoadedScenarios, ...]
    """Scenario files with no runbook beside them."""
    duration_ms: float
    """The whole run: linting, reading files, running scenarios."""

    @property
    def problems(self) -> tuple[Problem, ...]:
        return (*(p for r in self.runbooks for p in r.problems), *(p for o in self.orphans for p in o.problems))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def outcomes(self) -> tuple[ScenarioOutcome, ...]:
        return tuple(outcome for report in self.runbooks for outcome in report.outcomes)

    @property
    def failed(self) -> tuple[ScenarioOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.passed)

    @property
    def scenario_ms(self) -> float:
        """Time spent running scenarios (assess, plan, compare), without linting and reading files."""
        return sum(outcome.duration_ms for outcome in self.outcomes)

    @property
    def decision_tally(self) -> Tally:
        return sum((r.coverage.decision_tally for r in self.runbooks if r.coverage), Tally(0, 0))

    @property
    def status_tally(self) -> Tally:
        return sum((r.coverage.status_tally for r in self.runbooks if r.coverage), Tally(0, 0))

    @property
    def tally(self) -> Tally:
        return self.decision_tally + self.status_tally

    @property
    def passed(self) -> bool:
        return not self.errors and not self.failed


def is_scenario_file(path: Path) -> bool:
    return path.name.lower().endswith(SCENARIO_SUFFIXES)


def scenario_files_for(runbook_path: Path) -> list[Path]:
    """The scenario files beside a runbook file, named after it."""
    stem = runbook_path.name[: -len(runbook_path.suffix)] if runbook_path.suffix else runbook_path.name
    return [path for suffix in SCENARIO_SUFFIXES if (path := runbook_path.with_name(stem + suffix)).is_file()]


def runbook_file_for(scenario_path: Path) -> Path | None:
    """The runbook a scenario file tests: the file beside it with the same name less `.test`."""
    stem = _stem(scenario_path)
    return next((p for s in RUNBOOK_SUFFIXES if (p := scenario_path.with_name(stem + s)).is_file()), None)


def _stem(scenario_path: Path) -> str:
    name = scenario_path.name
    return next(name[: -len(s)] for s in SCENARIO_SUFFIXES if name.lower().endswith(s))


async def run_suite(
    paths: Sequence[Path], *, allow: AllowList | None = None, policy: Policy | None = None, catalog: Path | None = None
) -> SuiteReport:
    """Lint the runbooks under `paths` (against `policy`, and `shadowOf` against `catalog`), run every scenario,
    measure coverage."""
    started = time.perf_counter()
    runbook_files, scenario_files = _collect(paths)
    by_runbook: dict[Path, list[Path]] = {path.resolve(): [] for path in runbook_files}
    orphans = []
    for scenario_path in scenario_files:
        runbook_path = runbook_file_for(scenario_path)
        if runbook_path is None:
            orphans.append(_orphan(scenario_path))
            continue
        if runbook_path.resolve() not in by_runbook:
            runbook_files.append(runbook_path)
            by_runbook[runbook_path.resolve()] = []
        by_runbook[runbook_path.resolve()].append(scenario_path)
    reports = []
    linted = lint_paths(runbook_files, allow=allow, policy=policy, catalog=catalog)
    for result, runbook_path in zip(linted, runbook_files, strict=True):
        reports.append(await _test_runbook(result, by_runbook[runbook_path.resolve()]))
    duration_ms = (time.perf_counter() - started) * 1000
    return SuiteReport(tuple(reports), tuple(orphans), duration_ms)


async def _test_runbook(lint: LintResult, scenario_paths: Iterable[Path]) -> RunbookReport:
    runbook = lint.runbook
    files = tuple(load_scenario_file(path, runbook) for path in scenario_paths)
    if runbook is None:
        return RunbookReport(lint, files, (), None)
    outcomes = [await run_scenario(runbook, scenario) for loaded in files for scenario in loaded.scenarios]
    coverage = measure_coverage(runbook, (outcome.assessment for outcome in outcomes))
    return RunbookReport(lint, files, tuple(outcomes), coverage)


def _collect(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Runbook files and scenario files under `paths`, each once, in the order found."""
    runbooks: dict[Path, Path] = {}
    scenarios: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            for found in find_runbook_files(path):
                runbooks.setdefault(found.resolve(), found)
                for scenario in scenario_files_for(found):
                    scenarios.setdefault(scenario.resolve(), scenario)
            for found in _scenario_files_below(path):
                scenarios.setdefault(found.resolve(), found)
        elif is_scenario_file(path):
            scenarios.setdefault(path.resolve(), path)
        else:
            runbooks.setdefault(path.resolve(), path)
            for scenario in scenario_files_for(path):
                scenarios.setdefault(scenario.resolve(), scenario)
    return list(runbooks.values()), list(scenarios.values())


def _scenario_files_below(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_file() and is_scenario_file(path):
            found.append(path)
    return found


def _orphan(path: Path) -> LoadedScenarios:
    loaded = load_scenario_file(path, None)
    names = ", ".join(_stem(path) + suffix for suffix in RUNBOOK_SUFFIXES)
    message = f"no runbook beside this scenario file to test (expected {names})"
    return LoadedScenarios(loaded.path, (), (Problem(str(path), Position(), "HR004", message), *loaded.problems))
