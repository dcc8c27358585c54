"""What the durable workflows run with: the store, probes, actions, notifiers and timing.

DBOS workflows are module-level functions that are replayed after a crash, so they cannot take
their dependencies as arguments (arguments are checkpointed). The process that runs the engine
installs one `EngineRuntime` at start; the workflows read it with `current()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from handrail.actions.base import Action
from handrail.blocking import BlockingPool
from handrail.diagnostics.base import Probe
from handrail.lint.policy import Policy
from handrail.notify.base import Notifier
from handrail.safety import SafetyPolicy
from handrail.store import SqlIncidentStore

if TYPE_CHECKING:
    from handrail.engine.service import IncidentService

__all__ = ["EngineRuntime", "IncidentLoad", "current", "install", "off_loop", "uninstall"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(slots=True)
class IncidentLoad:
    """How many incident workflows this process is running now, however each was started."""

    running: int = 0


@dataclass(frozen=True, slots=True)
class EngineRuntime:
    store: SqlIncidentStore
    probes: Mapping[str, Probe[Any]]
    actions: Mapping[str, Action[Any]]
    notifiers: Sequence[Notifier]
    minute_seconds: float = 60.0
    """How long a runbook minute lasts (escalateAfterMinutes); shortened for tests and game days."""
    assessment_deadline: float = 120.0
    safety: SafetyPolicy = field(default_factory=SafetyPolicy)
    runbooks_folder: Path | None = None
    """The catalog, for what runs on a schedule (metric_threshold polling)."""
    policy: Policy | None = None
    """The team's rules the catalog is loaded against: a runbook that breaks them opens no incident."""
    console_url: str | None = None
    """Where people open an incident, for links in notifications."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    assessment_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    """Assessments running at once in this process; the others wait before their diagnostics' clocks start."""
    service: IncidentService | None = None
    """The one door to incidents, for what opens them on a schedule (metric_threshold polling)."""
    load: IncidentLoad = field(default_factory=IncidentLoad)
    """Incident workflows running in this process: whether `Worker.start_incident` has room for one more."""

    def notifier(self, name: str) -> Notifier | None:
        return next((n for n in self.notifiers if n.name == name), None)


_installed: EngineRuntime | None = None


def install(runtime: EngineRuntime) -> None:
    """Make `runtime` the one the workflows of this process use."""
    global _installed
    _installed = runtime


def uninstall() -> None:
    global _installed
    _installed = None


def current() -> EngineRuntime:
    """The runtime of this process; an engine that was not started has none."""
    if _installed is None:
        raise RuntimeError("the Handrail engine is not running in this process (no runtime installed)")
    return _installed


STORE_THREADS = 8
"""Store calls of the engine's steps running at once; below SQLAlchemy's 15 connections per engine, so none waits
for a connection (the default executor in a DBOS process is unbounded: a storm would start a thread per call)."""

_store_pool = BlockingPool(STORE_THREADS, name="handrail-store")
"""The engine's own bounded pool (the same mechanism as the service's, `handrail.blocking`), made on import: a
pool starts no thread until it is used."""


async def off_loop(call: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a blocking call (the store's SQL) in a worker thread, so the event loop keeps serving other incidents.

    The engine's steps are coroutines on one event loop; a store call made there stalls every other
    incident, timer and delivery of the process for as long as the database takes (#14).
    """
    return await _store_pool.run(call, *args, **kwargs)
