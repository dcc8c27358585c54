"""`handrail lint`: every problem in runbook files, each with a code and a place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from handrail.expression.function import regex_problem
from handrail.lint.checks import RunbookChecks, diagnostic_names
from handrail.lint.policy import Policy, check_policy
from handrail.lint.reachability import check_all_errors_reachable
from handrail.lint.shadows import check_shadows, declared_shadows
from handrail.lint.thresholds import check_unreachable_statuses
from handrail.runbook.load import LoadedRunbook, load_runbook_file
from handrail.runbook.model import Runbook, Trigger
from handrail.runbook.problem import Position, Problem, Severity
from handrail.runbook.source import RUNBOOK_SUFFIXES, SCENARIO_SUFFIXES, Document
from handrail.safety import AllowList

__all__ = [
    "LintResult",
    "Policy",
    "diagnostic_names",
    "find_runbook_files",
    "lint_file",
    "lint_paths",
]


_TRIGGERS: TypeAdapter[list[Trigger]] = TypeAdapter(list[Trigger])


@dataclass(frozen=True, slots=True)
class LintResult:
    """One file's verdict: the runbook (when it has no errors) and every problem, in file order.

    A file with errors still says what it can: `runbook_id` is the id it declares and `triggers`
    its triggers, when they read cleanly (None when they do not), so a broken runbook can be named
    by its id and an alert meant for it recognised.
    """

    path: str
    runbook: Runbook | None
    problems: tuple[Problem, ...]
    runbook_id: str | None = None
    triggers: tuple[Trigger, ...] | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def lint_file(
    path: Path | str, *, display: str | None = None, allow: AllowList | None = None, policy: Policy | None = None
) -> LintResult:
    """Load one runbook file and run every check on it (and the allow-lists and the policy, when given)."""
    return _lint_loaded(load_runbook_file(path, display=display), allow, policy)


def _lint_loaded(loaded: LoadedRunbook, allow: AllowList | None = None, policy: Policy | None = None) -> LintResult:
    if loaded.runbook is None or loaded.document is None:
        runbook_id, triggers = _declared(loaded.document)
        return LintResult(loaded.path, None, _sorted(loaded.problems), runbook_id, triggers)
    checks = RunbookChecks(loaded.runbook, loaded.document, allow)
    problems = checks.run()
    problems += check_all_errors_reachable(loaded.runbook, loaded.document, checks.parsed)
    problems += check_unreachable_statuses(loaded.runbook, loaded.document, checks.parsed)
    if policy is not None:
        problems += check_policy(loaded.runbook, loaded.document, policy)
    has_errors = any(p.severity is Severity.ERROR for p in problems)
    triggers = _usable(loaded.runbook.triggers)
    return LintResult(
        loaded.path, None if has_errors else loaded.runbook, _sorted(problems), loaded.runbook.id, triggers
    )


def _declared(document: Document | None) -> tuple[str | None, tuple[Trigger, ...] | None]:
    """The id and triggers of a file that failed the schema, as far as they read cleanly."""
    data = document.data if document is not None else None
    if not isinstance(data, dict):
        return None, None
    runbook_id = data.get("id")
    try:
        triggers = _usable(_TRIGGERS.validate_python(data.get("triggers")))
    except ValidationError:
        triggers = None
    return (runbook_id if isinstance(runbook_id, str) and runbook_id else None), triggers


def _usable(triggers: Sequence[Trigger]) -> tuple[Trigger, ...] | None:
    """The triggers, if alerts can be matched against every one (the checks of `RunbookChecks._triggers`)."""
    for trigger in triggers:
        if trigger.type == "alert" and not trigger.alert_name:
            return None
        if any(m[:2] in ("=~", "!~") and regex_problem(m[2:]) is not None for m in trigger.labels.values()):
            return None
    return tuple(triggers)


def find_runbook_files(folder: Path) -> list[Path]:
    """Runbook files below `folder`: YAML and JSON, skipping hidden paths and `*.test.yaml` scenarios."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") for part in relative) or not path.is_file():
            continue
        name = path.name.lower()
        if name.endswith(RUNBOOK_SUFFIXES) and not name.endswith(SCENARIO_SUFFIXES):
            found.append(path)
    return found


def lint_paths(
    paths: Iterable[Path],
    *,
    allow: AllowList | None = None,
    policy: Policy | None = None,
    catalog: Path | None = None,
) -> list[LintResult]:
    """Lint files and folders; a runbook id used by two files is a problem in the second.

    `shadowOf` is checked against the runbooks linted together and, with `catalog`, the runbooks of that
    folder too (HR501–HR503), so a new version linted on its own meets the runbook it shadows.
    Scenario files (`*.test.yaml`) are skipped even when named, so `handrail lint runbooks/*.yaml` works:
    `handrail test` checks them.
    """
    results: list[LintResult] = []
    linted: set[Path] = set()
    for path in paths:
        files = find_runbook_files(path) if path.is_dir() else [path]
        files = [file for file in files if not file.name.lower().endswith(SCENARIO_SUFFIXES)]
        results.extend(lint_file(file, allow=allow, policy=policy) for file in files)
        linted.update(file.resolve() for file in files)
    folder = find_runbook_files(catalog) if catalog is not None and catalog.is_dir() else []
    others = [file for file in folder if file.resolve() not in linted]
    return check_shadows(_mark_duplicate_ids(results), elsewhere=declared_shadows(others))


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
            result = replace(result, runbook=None, problems=_sorted((*result.problems, problem)))
        elif runbook is not None:
            first_seen[runbook.id] = result.path
        marked.append(result)
    return marked


def _id_position(path: str) -> Position:
    loaded = load_runbook_file(path)
    return loaded.document.position(("id",)) if loaded.document else Position()


def _sorted(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: (p.position.line, p.position.column, p.code)))
