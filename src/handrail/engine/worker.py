"""The engine in a process: DBOS launched on the configured database, the runtime installed.

`handrail worker` runs one; `handrail serve` runs one beside the API. Start it again after a crash
and DBOS recovers every incident this executor had in flight, from its last checkpoint; if it does
not come back, a live worker takes its incidents over after `engine.takeoverAfterSeconds`
(engine/takeover.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from dbos import DBOS, DBOSConfig

from handrail.engine import incident  # noqa: F401 - registers the workflows with DBOS
from handrail.engine.dbos_private import recover_pending_workflows
from handrail.engine.incident import INCIDENT_QUEUE
from handrail.engine.runtime import EngineRuntime, install, uninstall
from handrail.engine.takeover import WorkerWatch
from handrail.engine.thresholds import POLL_SCHEDULE, cron_for, poll_metric_thresholds
from handrail.store.workers import SqlWorkerRegistry, WorkerRecord

__all__ = ["Worker"]

logger = logging.getLogger(__name__)


class Worker:
    """Runs incident workflows from the queue until closed."""

    def __init__(
        self,
        runtime: EngineRuntime,
        *,
        database_url: str,
        executor_id: str | None = None,
        worker_concurrency: int = 1000,
        polling_interval: float = 0.1,
        metric_poll_seconds: float = 60.0,
        takeover_after: float = 30.0,
    ) -> None:
        self._metric_poll_seconds = metric_poll_seconds
        self.runtime = runtime
        self._database_url = database_url
        self._executor_id = executor_id or "local"
        self._worker_concurrency = worker_concurrency
        self._polling_interval = polling_interval
        self.watch = WorkerWatch(
            SqlWorkerRegistry(runtime.store.engine),
            executor_id=self._executor_id,
            takeover_after=takeover_after,
            recover=recover_pending_workflows,
            on_takeover=self._record_takeover,
        )
        self._heartbeat: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Worker:
        install(self.runtime)
        # before DBOS recovers this executor's workflows: not while another worker is taking them over
        await self.watch.register()
        config: DBOSConfig = {
            "name": "handrail",
            "system_database_url": self._database_url,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 0.2,
            "scheduler_polling_interval_sec": 1.0,
            "executor_id": self._executor_id,
        }
        DBOS(config=config)
        DBOS.launch()
        await DBOS.register_queue_async(
            INCIDENT_QUEUE,
            worker_concurrency=self._worker_concurrency,
            polling_interval_sec=self._polling_interval,
        )
        schedule: Any = {
            "schedule_name": POLL_SCHEDULE,
            "workflow_fn": poll_metric_thresholds,
            "schedule": cron_for(self._metric_poll_seconds),
        }
        await DBOS.apply_schedules_async([schedule])
        self.watch.version = DBOS.application_version
        self._heartbeat = asyncio.create_task(self.watch.run())
        logger.info("engine started (executor %s)", DBOS.executor_id)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        DBOS.destroy(workflow_completion_timeout_sec=0)
        self.watch.retire()  # only now: this process runs no workflow any more
        # DBOS's shutdown also shuts the event loop's default thread pool; closing clients may still need one.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="handrail-close"))
        closers: list[Any] = [*self.runtime.probes.values(), *self.runtime.actions.values(), *self.runtime.notifiers]
        outcomes = await asyncio.gather(*(closer.aclose() for closer in closers), return_exceptions=True)
        for closer, outcome in zip(closers, outcomes, strict=True):
            if isinstance(outcome, Exception):
                logger.warning("closing %s failed: %s", type(closer).__name__, outcome)
        self.runtime.store.engine.dispose()
        uninstall()

    async def run_until(self, stop: asyncio.Event) -> None:
        await stop.wait()

    def _record_takeover(self, worker: WorkerRecord, workflow_ids: Sequence[str]) -> None:
        store = self.runtime.store
        why = "stopped" if worker.retired else f"stopped answering ({worker.silent_ms / 1000:.0f} s)"
        message = f"worker {worker.executor_id} {why}; worker {self._executor_id} carries on from the last checkpoint"
        for workflow_id in workflow_ids:
            if store.get(workflow_id) is not None:  # the incident's own workflow (not a timer or a delivery)
                store.record(workflow_id, "takeover", message, data={"from": worker.executor_id})
