"""`handrail lint`: every problem in runbook files, each with a code and a place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from handrail.lint.checks import RunbookChecks, diagnostic_names
from handrail.lint.reachability import check_all_errors_reachable
from handrail.lint.thresholds import check_unreachable_statuses
from handrail.runbook.load import LoadedRunbook, load_runbook_file
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Position, Problem, Severity
from handrail.safety import AllowList

__all__ = [
    "LintResult",
    "diagnostic_names",
    "find_runbook_files",
    "lint_file",
    "lint_paths",
]

RUNBOOK_SUFFIXES = (".yaml", ".yml", ".json")
TEST_SUFFIXES = (".test.yaml", ".test.yml", ".test.json")


@dataclass(frozen=True, slots=True)
class LintResult:
    """One file's verdict: the runbook (when it has no errors) and every problem, in file order."""

    path: str
    runbook: Runbook | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def lint_file(path: Path | str, *, display: str | None = None, allow: AllowList | None = None) -> LintResult:
    """Load one runbook file and run every check on it (and the allow-lists, when given)."""
    return _lint_loaded(load_runbook_file(path, display=display), allow)


def _lint_loaded(loaded: LoadedRunbook, allow: AllowList | None = None) -> LintResult:
    if loaded.runbook is None or loaded.document is None:
        return LintResult(loaded.path, None, _sorted(loaded.problems))
    checks = RunbookChecks(loaded.runbook, loaded.document, allow)
    problems = checks.run()
    problems += check_all_errors_reachable(loaded.runbook, loaded.document, checks.parsed)
    problems += check_unreachable_statuses(loaded.runbook, loaded.document, checks.parsed)
    has_errors = any(p.severity is Severity.ERROR for p in problems)
    return LintResult(loaded.path, None if has_errors else loaded.runbook, _sorted(problems))


def find_runbook_files(folder: Path) -> list[Path]:
    """Runbook files below `folder`: YAML and JSON, skipping hidden paths and `*.test.yaml` scenarios."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") for part in relative) or not path.is_file():
            continue
        name = path.name.lower()
        if name.endswith(RUNBOOK_SUFFIXES) and not name.endswith(TEST_SUFFIXES):
            found.append(path)
    return found


def lint_paths(paths: Iterable[Path], *, allow: AllowList | None = None) -> list[LintResult]:
    """Lint files and folders; a runbook id used by two files is a problem in the second.

    Scenario files (`*.test.yaml`) are skipped even when named, so `handrail lint runbooks/*.yaml` works:
    `handrail test` checks them.
    """
    results: list[LintResult] = []
    for path in paths:
        files = find_runbook_files(path) if path.is_dir() else [path]
        files = [file for file in files if not file.name.lower().endswith(TEST_SUFFIXES)]
        results.extend(lint_file(file, allow=allow) for file in files)
    return _mark_duplicate_ids(results)


def _mark_duplicate_ids(results: Sequence[LintResult]) -> list[LintResult]:
    first_seen: dict[str, str] = {}
    marked = []
    for result in results:
        runbook = result.runbook
        if runbook is not None and runbook.id in first_seen:
            problem = Problem(
                result.path,
                _id_position(result.path),
                "HR301",
                f"runbook id '{runbook.id}' is already used by {first_seen[runbook.id]}",
            )
            result = LintResult(result.path, None, _sorted((*result.problems, problem)))
        elif runbook is not None:
            first_seen[runbook.id] = result.path
        marked.append(result)
    return marked


def _id_position(path: str) -> Position:
    loaded = load_runbook_file(path)
    return loaded.document.position(("id",)) if loaded.document else Position()


def _sorted(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: (p.position.line, p.position.column, p.code)))
