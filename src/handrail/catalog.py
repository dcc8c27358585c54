"""The catalog: every runbook in the configured folder, by id; a RUNBOOK argument is an id or a path.

A file with errors is indexed too, by the id it declares (or, when even that cannot be read, by its
file name), so asking for that id names the file and its problems instead of "no runbook".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handrail.errors import CatalogError, RunbookError
from handrail.lint import LintResult, Policy, lint_file, lint_paths
from handrail.runbook.load import did_you_mean
from handrail.runbook.model import Runbook

__all__ = ["SHOWN_PROBLEMS", "Catalog", "broken_summary", "resolve_runbook"]

SHOWN_PROBLEMS = 3
"""How many of a broken runbook's problems a one-line message quotes (`handrail lint` shows all)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """The runbooks that load without errors, by id, and the results of those that do not."""

    folder: Path
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    broken: tuple[LintResult, ...] = ()

    @classmethod
    def load(cls, folder: Path, *, policy: Policy | None = None) -> Catalog:
        """Lint every file below `folder` (and against `policy`); keep the good runbooks, report the broken ones."""
        if not folder.is_dir():
            return cls(folder)
        runbooks: dict[str, Runbook] = {}
        broken = []
        for result in lint_paths([folder], policy=policy):
            if result.runbook is None:
                broken.append(result)
            else:
                runbooks[result.runbook.id] = result.runbook
        return cls(folder, runbooks, tuple(broken))

    @property
    def active(self) -> dict[str, Runbook]:
        """The runbooks that triggers start: every one but the shadows (which only ride beside them)."""
        return {runbook_id: rb for runbook_id, rb in self.runbooks.items() if rb.shadow_of is None}

    def shadows_of(self, runbook_id: str) -> list[Runbook]:
        """The shadow versions of a runbook (`shadowOf: <runbook_id>`), by id."""
        return sorted((rb for rb in self.runbooks.values() if rb.shadow_of == runbook_id), key=lambda rb: rb.id)

    def broken_runbook(self, runbook_id: str) -> LintResult | None:
        """The file with errors that holds this id: the one declaring it, else one named after it."""
        found = next((r for r in self.broken if r.runbook_id == runbook_id), None)
        return found or next((r for r in self.broken if r.runbook_id is None and Path(r.path).stem == runbook_id), None)

    def get(self, runbook_id: str) -> Runbook:
        """The runbook with this id, or a `CatalogError` that names its broken file or says what exists."""
        if runbook_id in self.runbooks:
            return self.runbooks[runbook_id]
        broken = self.broken_runbook(runbook_id)
        if broken is not None:
            raise CatalogError(
                f"runbook '{runbook_id}' is in {broken_summary(broken, limit=0)}; fix them first (`handrail lint`)",
                public=f"runbook '{runbook_id}' is in {self._name(broken)}, which has "
                f"{_errors(broken)}; `handrail lint` and the console's runbook list show them",
                problems=broken.errors,
            )
        hint = did_you_mean(runbook_id, [*self.runbooks, *(r.runbook_id for r in self.broken if r.runbook_id)])
        public = f"no runbook '{runbook_id}'{hint}"
        if not self.folder.is_dir():
            raise CatalogError(
                f"no runbook '{runbook_id}': the catalog folder {self.folder} does not exist", public=public
            )
        raise CatalogError(f"no runbook '{runbook_id}' in {self.folder}{hint}", public=public)

    def _name(self, result: LintResult) -> str:
        """The file's path inside the folder (answers over HTTP name no server path)."""
        try:
            return str(Path(result.path).relative_to(self.folder))
        except ValueError:
            return Path(result.path).name


def _errors(result: LintResult) -> str:
    count = len(result.errors)
    return f"{count} error{'s' if count != 1 else ''}"


def broken_summary(result: LintResult, *, limit: int = SHOWN_PROBLEMS) -> str:
    """`PATH, which has 2 errors: PATH:3:7: HR102 ...; ...`: a broken file on one line, for logs and errors."""
    declared = "" if result.runbook_id is not None else " (its runbook id cannot be read)"
    shown = "; ".join(str(p) for p in result.errors[:limit])
    more = f"; and {len(result.errors) - limit} more" if shown and len(result.errors) > limit else ""
    return f"{result.path}{declared}, which has {_errors(result)}" + (f": {shown}{more}" if shown else "")


def resolve_runbook(reference: str, folder: Path, *, policy: Policy | None = None) -> Runbook:
    """A runbook by path (anything that exists as a file) or by id from the catalog in `folder`."""
    candidate = Path(reference)
    if candidate.is_file():
        result = lint_file(candidate, policy=policy)
        if result.runbook is None:
            raise RunbookError(list(result.errors))
        return result.runbook
    return Catalog.load(folder, policy=policy).get(reference)
