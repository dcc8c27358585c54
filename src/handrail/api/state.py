"""What the API's handlers work with, built once at start: the service, the catalog, the tokens."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handrail.api.auth import TokenRegistry
from handrail.catalog import Catalog, broken_summary
from handrail.check import LiveCheck
from handrail.diagnostics.base import Probe
from handrail.engine.service import IncidentService
from handrail.lint import LintResult, Policy
from handrail.notify.slack_replies import SlackReplies
from handrail.runbook.model import Runbook
from handrail.settings import Settings

__all__ = ["ApiState", "CatalogHolder"]

logger = logging.getLogger(__name__)


@dataclass
class CatalogHolder:
    """The runbooks being served; a broken file keeps the last good version and is reported."""

    folder: Path
    catalog: Catalog
    broken: tuple[LintResult, ...] = ()
    kept: frozenset[str] = frozenset()
    """Ids served from their last good version because their file broke since."""
    refused_alerts: Counter[str] = field(default_factory=Counter)
    """Firing alerts that matched a runbook whose file is broken, by runbook id (this process, since start)."""
    policy: Policy | None = None
    """The team's rules (settings' `policy`): a runbook that breaks them is broken like one with errors."""
    _fingerprint: tuple[tuple[str, float, int], ...] = ()

    @classmethod
    def load(cls, folder: Path, *, policy: Policy | None = None) -> CatalogHolder:
        holder = cls(folder, Catalog(folder), policy=policy)
        holder.reload()
        return holder

    def reload(self) -> dict[str, Any]:
        """Load the folder again; keep the last good version of any runbook whose file broke."""
        fresh = Catalog.load(self.folder, policy=self.policy)
        kept = {
            runbook_id: runbook
            for runbook_id, runbook in self.catalog.runbooks.items()
            if runbook_id not in fresh.runbooks and fresh.broken_runbook(runbook_id) is not None
        }
        runbooks = {**kept, **fresh.runbooks}
        self.catalog = Catalog(self.folder, runbooks, fresh.broken)
        self.broken = fresh.broken
        self.kept = frozenset(kept)
        self._fingerprint = self._scan()
        for result in fresh.broken:
            logger.warning("%s", self._consequence(result, kept, fresh.runbooks))
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
        return {"id": result.runbook_id, "path": result.path, "problems": [p.to_dict() for p in result.errors]}

    @staticmethod
    def _consequence(result: LintResult, kept: dict[str, Runbook], fresh: dict[str, Runbook]) -> str:
        """The log line for a broken file: which runbook it holds and what becomes of its alerts."""
        if result.runbook_id is None:
            where = broken_summary(result)
            if Path(result.path).stem in kept:
                return f"{where}; the last good version of runbook '{Path(result.path).stem}' keeps serving"
            return f"{where}; alerts meant for it count as unknown"
        where = f"runbook '{result.runbook_id}' is in {broken_summary(result)}"
        if result.runbook_id in kept:
            return f"{where}; its last good version keeps serving"
        if result.runbook_id in fresh:
            return f"{where}; the runbook of that id in another file is served"
        if result.triggers is None:
            return f"{where}; its triggers cannot be read either, so alerts meant for it count as unknown"
        return f"{where}; alerts that match it open no incident until it is fixed"

    async def watch(self, interval: float, stop: asyncio.Event, *, offload: Callable[..., Awaitable[Any]]) -> None:
        """Reload when a file in the folder changes (polling: works on every filesystem).

        The scan and the reload read files: they run through `offload` (the service's pool), off the loop.
        """
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                if await offload(self.changed):
                    await offload(self.reload)


@dataclass
class ApiState:
    settings: Settings
    service: IncidentService
    catalog: CatalogHolder
    tokens: TokenRegistry
    probes: dict[str, Probe[Any]] = field(default_factory=dict)
    slack_replies: SlackReplies = field(default_factory=SlackReplies)
    """Answers to Slack's response URLs (only ever https://hooks.slack.com; tests hand it a transport)."""
    live: LiveCheck | None = None
    """The catalog checked against the live systems (`engine.liveCheckMinutes`), when it is on."""
