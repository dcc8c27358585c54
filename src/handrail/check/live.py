"""`handrail serve`'s live check: the catalog against its systems every `engine.liveCheckMinutes` and on reload.

`LiveCheck` keeps the last findings of each runbook (the console shows them, `/metrics` counts them)
and, when a runbook goes from clean to having errors, tells its escalation primary once: it is told
again only after the runbook has been clean in between. A process knows what it has seen: a runbook
that is already rotten when it starts (or when its file first appears) is shown, not told, so a
restart or a deploy never tells anyone twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from handrail.check.run import CheckResult, LiveCheckers, check_paths
from handrail.runbook.problem import Problem

__all__ = ["SHOWN_FINDINGS", "LiveCheck", "Tell"]

logger = logging.getLogger(__name__)

SHOWN_FINDINGS = 10
"""How many findings a notification quotes (the console shows them all)."""

Tell = Callable[[str, str, str, str], Awaitable[None]]
"""Sends (target, title, text, severity) to the notifiers that take the target."""


@dataclass
class LiveCheck:
    """The last live check of each runbook in `folder`, and who has been told about what."""

    folder: Path
    checkers: Callable[[], LiveCheckers]
    """Fresh checkers per run (each run asks its systems anew)."""
    tell: Tell | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)
    """The last result of each runbook that loads, by id."""
    runs: int = 0

    def findings(self, runbook_id: str) -> tuple[Problem, ...]:
        result = self.results.get(runbook_id)
        return result.problems if result is not None else ()

    def rotten(self) -> frozenset[str]:
        """The runbooks whose last check found an error."""
        return frozenset(runbook_id for runbook_id, result in self.results.items() if result.errors)

    def counts(self) -> list[tuple[str, str, int]]:
        """(runbook, code, how many) of the last check, for `/metrics`."""
        counted = Counter((runbook_id, p.code) for runbook_id, r in self.results.items() for p in r.problems)
        return sorted((runbook, code, count) for (runbook, code), count in counted.items())

    async def run_once(self) -> None:
        """Check the folder, keep the results, and tell each newly rotten runbook's primary."""
        checkers = self.checkers()
        try:
            results = await check_paths([self.folder], checkers) if self.folder.is_dir() else []
        finally:
            await checkers.aclose()
        clean = {runbook_id for runbook_id, result in self.results.items() if not result.errors}
        self.results = {r.runbook_id: r for r in results if r.checked and r.runbook_id is not None}
        self.runs += 1
        for runbook_id, result in sorted(self.results.items()):
            if result.errors:
                logger.warning("runbook '%s' does not fit its systems: %s", runbook_id, result.errors[0])
                if runbook_id in clean:
                    await self._tell(result)

    async def _tell(self, result: CheckResult) -> None:
        runbook = result.runbook
        if self.tell is None or runbook is None:
            return
        errors = result.errors
        count = f"{len(errors)} error{'' if len(errors) == 1 else 's'}"
        title = f"Runbook '{runbook.id}' no longer fits the systems it names ({count})"
        shown = [str(problem) for problem in errors[:SHOWN_FINDINGS]]
        more = [f"… and {len(errors) - SHOWN_FINDINGS} more"] if len(errors) > SHOWN_FINDINGS else []
        text = "\n".join([title, "`handrail check` found:", *shown, *more])
        try:
            await self.tell(runbook.escalation.primary, title, text, runbook.severity)
        except Exception:  # a notifier that fails is logged; the check goes on
            logger.warning(
                "could not tell %s about runbook '%s'", runbook.escalation.primary, runbook.id, exc_info=True
            )

    async def watch(
        self, interval: float, stop: asyncio.Event, *, version: Callable[[], object], poll: float = 1.0
    ) -> None:
        """Run every `interval` seconds, and whenever `version()` changes (the catalog reloaded), until `stop`."""
        loop = asyncio.get_running_loop()
        seen: object = None
        due = loop.time()
        while not stop.is_set():
            current = version()
            if current is not seen or loop.time() >= due:
                seen = current
                try:
                    await self.run_once()
                except Exception:  # never let the loop die: the next run may go through
                    logger.exception("the live check of the runbooks failed")
                due = loop.time() + interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
