"""The catalog: every runbook in the configured folder, by id; a RUNBOOK argument is an id or a path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handrail.errors import CatalogError, RunbookError
from handrail.lint import LintResult, lint_file, lint_paths
from handrail.runbook.load import did_you_mean
from handrail.runbook.model import Runbook

__all__ = ["Catalog", "resolve_runbook"]


@dataclass(frozen=True, slots=True)
class Catalog:
    """The runbooks that load without errors, by id, and the results of those that do not."""

    folder: Path
    runbooks: dict[str, Runbook] = field(default_factory=dict)
    broken: tuple[LintResult, ...] = ()

    @classmethod
    def load(cls, folder: Path) -> Catalog:
        """Lint every file below `folder`; keep the good runbooks, report the broken ones."""
        if not folder.is_dir():
            return cls(folder)
        runbooks: dict[str, Runbook] = {}
        broken = []
        for result in lint_paths([folder]):
            if result.runbook is None:
                broken.append(result)
            else:
                runbooks[result.runbook.id] = result.runbook
        return cls(folder, runbooks, tuple(broken))

    def get(self, runbook_id: str) -> Runbook:
        """The runbook with this id, or a `CatalogError` that says what exists."""
        if runbook_id in self.runbooks:
            return self.runbooks[runbook_id]
        hint = did_you_mean(runbook_id, self.runbooks)
        public = f"no runbook '{runbook_id}'{hint}"
        if not self.folder.is_dir():
            raise CatalogError(
                f"no runbook '{runbook_id}': the catalog folder {self.folder} does not exist", public=public
            )
        raise CatalogError(f"no runbook '{runbook_id}' in {self.folder}{hint}", public=public)


def resolve_runbook(reference: str, folder: Path) -> Runbook:
    """A runbook by path (anything that exists as a file) or by id from the catalog in `folder`."""
    candidate = Path(reference)
    if candidate.is_file():
        result = lint_file(candidate)
        if result.runbook is None:
            raise RunbookError(list(result.errors))
        return result.runbook
    catalog = Catalog.load(folder)
    if reference not in catalog.runbooks:
        for result in catalog.broken:
            if Path(result.path).stem == reference:
                raise RunbookError(list(result.errors))
    return catalog.get(reference)
