"""The engine in a process: DBOS launched on the configured database, the runtime installed.

`handrail worker` runs one; `handrail serve` runs one beside the API, and there an incident the API
opens starts on this worker at once (`start_incident`) rather than on the queue's next poll. Start it
again after a crash
and DBOS recovers every incident this executor had in flight, from its last checkpoint; if it does
not come back, a live worker takes its incidents over after `engine.takeoverAfterSeconds`
(engine/takeover.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import TracebackType
from typing import Any

from dbos import DBOS, DBOSConfig, Queue, SetWorkflowID

from handrail.engine.dbos_private import recover_pending_workflows
from handrail.engine.incident import INCIDENT_QUEUE, handle_incident
from handrail.engine.runtime import EngineRuntime, install, off_loop, uninstall
from handrail.engine.takeover import WorkerWatch
from handrail.engine.thresholds import POLL_SCHEDULE, cron_for, poll_metric_thresholds
from handrail.store.workers import SqlWorkerRegistry, WorkerRecord

__all__ = ["STRAY_GRACE_SECONDS", "Worker"]

logger = logging.getLogger(__name__)

STRAY_GRACE_SECONDS = 10.0
"""An incident still `triggered` this long after it was recorded, with no workflow, is a stray: the process that
recorded it died between its commit and starting its workflow (`start_incident`); a worker enqueues it."""
STRAY_BATCH = 200


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
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: Queue | None = None

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
        self._queue = await DBOS.register_queue_async(
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
        self._sweeper = asyncio.create_task(self._sweep_strays())
        # DBOS runs the queue's workflows on the loop that launched it: this one
        self._loop = asyncio.get_running_loop()
        logger.info("engine started (executor %s)", DBOS.executor_id)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._loop = None  # no more local starts: they go to the queue
        tasks = [task for task in (self._heartbeat, self._sweeper) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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

    # -- local starts -------------------------------------------------------------------------

    def has_room(self) -> bool:
        """This worker is running, the caller is on its loop, and it runs fewer incidents than its concurrency."""
        if self._loop is None:
            return False
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return here is self._loop and self.runtime.load.running < self._worker_concurrency

    async def start_incident(self, incident_id: str) -> None:
        """Start a recorded incident's workflow here, now, instead of waiting for a poll of the queue (#14).

        The workflow is this executor's from the moment DBOS records it: recovered by this worker after a
        restart, taken over by another if this one dies (engine/takeover.py). A crash between the incident's
        commit and this call leaves an incident with no workflow, which `_sweep_strays` enqueues.
        """
        with SetWorkflowID(incident_id):
            await DBOS.start_workflow_async(handle_incident, incident_id)

    async def _sweep_strays(self) -> None:
        """Now and every `takeoverAfterSeconds`: enqueue each incident recorded with no workflow to carry it."""
        interval = max(self.watch.takeover_after, STRAY_GRACE_SECONDS)
        while True:
            try:
                await self.enqueue_strays()
            except Exception:  # the database may be away for a moment; the next sweep tries again
                logger.warning("looking for incidents without a workflow failed", exc_info=True)
            await asyncio.sleep(interval)

    async def enqueue_strays(self) -> list[str]:
        """Enqueue every incident still `triggered` STRAY_GRACE_SECONDS after it was recorded that has no
        workflow (ids of the ones enqueued). Enqueuing an id DBOS already knows changes nothing."""
        cutoff = self.runtime.clock() - timedelta(seconds=STRAY_GRACE_SECONDS)
        waiting = await off_loop(
            self.runtime.store.find, states=["triggered"], created_before=cutoff, limit=STRAY_BATCH
        )
        if not waiting or self._queue is None:
            return []
        ids = [record.id for record in waiting]
        found = await DBOS.list_workflows_async(workflow_ids=ids, load_input=False, load_output=False)
        known = {workflow.workflow_id for workflow in found}
        strays = [incident_id for incident_id in ids if incident_id not in known]
        for incident_id in strays:
            with SetWorkflowID(incident_id):
                await self._queue.enqueue_async(handle_incident, incident_id)
            logger.warning(
                "incident %s had no workflow (its recorder stopped before starting one): queued", incident_id
            )
        return strays

    def _record_takeover(self, worker: WorkerRecord, workflow_ids: Sequence[str]) -> None:
        store = self.runtime.store
        why = "stopped" if worker.retired else f"stopped answering ({worker.silent_ms / 1000:.0f} s)"
        message = f"worker {worker.executor_id} {why}; worker {self._executor_id} carries on from the last checkpoint"
        for workflow_id in workflow_ids:
            if store.get(workflow_id) is not None:  # the incident's own workflow (not a timer or a delivery)
                store.record(workflow_id, "takeover", message, data={"from": worker.executor_id})
