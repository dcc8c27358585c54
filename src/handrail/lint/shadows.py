"""Shadow versions across the catalog (#15): HR501–HR503, each at the `shadowOf` value.

These checks need the other runbooks, so they run over a set of lint results (a folder, or the files
named plus the catalog folder), after each file has been checked on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from handrail.runbook.load import did_you_mean, load_runbook_file
from handrail.runbook.problem import Position, Problem

if TYPE_CHECKING:
    from handrail.lint import LintResult

__all__ = ["check_shadows", "declared_shadows"]

_SHADOW_OF = ("shadowOf",)


def declared_shadows(paths: Iterable[Path | str]) -> dict[str, str | None]:
    """Runbook id → the id it shadows (None for an active runbook), as each file declares them.

    Read from the documents, not the checked models, so a file with other errors still says which id
    it holds and whether it is a shadow.
    """
    declared: dict[str, str | None] = {}
    for path in paths:
        document = load_runbook_file(path).document
        data = document.data if document is not None else None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            continue
        shadow_of = data.get("shadowOf")
        declared.setdefault(data["id"], shadow_of if isinstance(shadow_of, str) else None)
    return declared


def check_shadows(
    results: Sequence[LintResult], *, elsewhere: Mapping[str, str | None] | None = None
) -> list[LintResult]:
    """The results with HR501–HR503 added to each usable runbook whose `shadowOf` is wrong (it becomes unusable).

    `elsewhere` holds the catalog's runbooks that are not among `results` (id → the id it shadows).
    """
    declared = dict(elsewhere or {})
    broken = [r.path for r in results if r.runbook is None and r.runbook_id is not None]
    declared.update(declared_shadows(broken))
    declared.update({r.runbook.id: r.runbook.shadow_of for r in results if r.runbook is not None})
    checked = []
    for result in results:
        problem = _problem(result, declared)
        if problem is not None:
            problems = tuple(sorted((*result.problems, problem), key=_place))
            result = replace(result, runbook=None, problems=problems)
        checked.append(result)
    return checked


def _problem(result: LintResult, declared: Mapping[str, str | None]) -> Problem | None:
    runbook = result.runbook
    if runbook is None or runbook.shadow_of is None:
        return None
    target = runbook.shadow_of
    if target == runbook.id:
        code, message = "HR503", f"runbook '{runbook.id}' cannot shadow itself; name the runbook it is a new version of"
    elif target not in declared:
        hint = did_you_mean(target, [name for name in declared if name != runbook.id])
        code, message = "HR501", f"shadowOf names no runbook '{target}' in the catalog{hint}"
    elif declared[target] is not None:
        code = "HR502"
        message = (
            f"'{target}' is itself a shadow (of '{declared[target]}'): a shadow rides beside an active runbook,"
            f" not beside another shadow; name '{declared[target]}'"
        )
    else:
        return None
    document = load_runbook_file(result.path).document
    position = document.position(_SHADOW_OF) if document is not None else Position()
    return Problem(result.path, position, code, message)


def _place(problem: Problem) -> tuple[int, int, str]:
    """The order `handrail lint` prints a file's problems in."""
    return problem.position.line, problem.position.column, problem.code
