"""The engine in a process: DBOS launched on the configured database, the runtime installed.

`handrail worker` runs one; later `handrail serve` runs one beside the API. Start it again after
a crash and DBOS recovers every incident this executor had in flight, from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from dbos import DBOS, DBOSConfig

from handrail.engine import incident  # noqa: F401 - registers the workflows with DBOS
from handrail.engine.incident import INCIDENT_QUEUE
from handrail.engine.runtime import EngineRuntime, install, uninstall
from handrail.engine.thresholds import POLL_SCHEDULE, cron_for, poll_metric_thresholds

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
        polling_interval: float = 0.5,
        metric_poll_seconds: float = 60.0,
    ) -> None:
        self._metric_poll_seconds = metric_poll_seconds
        self.runtime = runtime
        self._database_url = database_url
        self._executor_id = executor_id
        self._worker_concurrency = worker_concurrency
        self._polling_interval = polling_interval

    async def __aenter__(self) -> Worker:
        install(self.runtime)
        config: DBOSConfig = {
            "name": "handrail",
            "system_database_url": self._database_url,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 0.2,
            "scheduler_polling_interval_sec": 1.0,
        }
        if self._executor_id:
            config["executor_id"] = self._executor_id
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
        logger.info("engine started (executor %s)", DBOS.executor_id)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        DBOS.destroy(workflow_completion_timeout_sec=0)
        closers: list[Any] = [*self.runtime.probes.values(), *self.runtime.actions.values(), *self.runtime.notifiers]
        await asyncio.gather(*(closer.aclose() for closer in closers), return_exceptions=True)
        self.runtime.store.engine.dispose()
        uninstall()

    async def run_until(self, stop: asyncio.Event) -> None:
        await stop.wait()
