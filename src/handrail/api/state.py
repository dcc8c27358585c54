"""What the API's handlers work with, built once at start: the service, the catalog, the tokens."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handrail.api.auth import TokenRegistry
from handrail.catalog import Catalog
from handrail.diagnostics.base import Probe
from handrail.engine.service import IncidentService
from handrail.lint import LintResult
from handrail.settings import Settings

__all__ = ["ApiState", "CatalogHolder"]

logger = logging.getLogger(__name__)


@dataclass
class CatalogHolder:
    """The runbooks being served; a broken file keeps the last good version and is reported."""

    folder: Path
    catalog: Catalog
    broken: tuple[LintResult, ...] = ()
    _fingerprint: tuple[tuple[str, float, int], ...] = ()

    @classmethod
    def load(cls, folder: Path) -> CatalogHolder:
        holder = cls(folder, Catalog(folder))
        holder.reload()
        return holder

    def reload(self) -> dict[str, Any]:
        """Load the folder again; keep the last good version of any runbook whose file broke."""
        fresh = Catalog.load(self.folder)
        kept = {}
        for result in fresh.broken:
            for runbook_id, runbook in self.catalog.runbooks.items():
                if Path(result.path).stem == runbook_id and runbook_id not in fresh.runbooks:
                    kept[runbook_id] = runbook
        runbooks = {**kept, **fresh.runbooks}
        self.catalog = Catalog(self.folder, runbooks, fresh.broken)
        self.broken = fresh.broken
        self._fingerprint = self._scan()
        for result in fresh.broken:
            logger.warning("runbook %s has errors; %s", result.path, "; ".join(str(p) for p in result.errors[:3]))
        return {"runbooks": sorted(runbooks), "broken": [self._report(r) for r in fresh.broken], "kept": sorted(kept)}

    def changed(self) -> bool:
        return self._scan() != self._fingerprint

    def _scan(self) -> tuple[tuple[str, float, int], ...]:
        if not self.folder.is_dir():
            return ()
        return tuple(
            (str(p), p.stat().st_mtime, p.stat().st_size) for p in sorted(self.folder.rglob("*")) if p.is_file()
        )

    @staticmethod
    def _report(result: LintResult) -> dict[str, Any]:
        return {"path": result.path, "problems": [p.to_dict() for p in result.errors]}

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Reload when a file in the folder changes (polling: works on every filesystem)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                if self.changed():
                    self.reload()


@dataclass
class ApiState:
    settings: Settings
    service: IncidentService
    catalog: CatalogHolder
    tokens: TokenRegistry
    probes: dict[str, Probe[Any]] = field(default_factory=dict)
