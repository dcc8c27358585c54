"""`metric_threshold` triggers: a durable scheduled workflow polls each `metricQuery`.

DBOS runs the schedule once per tick across every process (the tick's time is part of the
workflow's id), so several workers poll once, and a restart picks the schedule up again. When a
query's value reaches its `threshold` (value >= threshold), the runbook's incident opens — or the
open one with the same dedup key is joined, so a value that stays high does not open one per tick.
It opens through `IncidentService.trigger`, like every other route: one incident id, one dedup path,
and the incident's workflow enqueued in the transaction that inserts it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dbos import DBOS

from handrail.catalog import Catalog
from handrail.diagnostics.base import ProbeContext
from handrail.diagnostics.prometheus_query import PrometheusQueryParams
from handrail.engine.runtime import current
from handrail.engine.service import threshold_dedup_key
from handrail.errors import ProbeError
from handrail.runbook.model import Runbook

__all__ = ["POLL_SCHEDULE", "cron_for", "poll_metric_thresholds"]

logger = logging.getLogger(__name__)

POLL_SCHEDULE = "handrail-metric-thresholds"


def cron_for(seconds: float) -> str:
    """A six-field cron expression that fires every `seconds` (rounded to what cron can say)."""
    whole = max(1, round(seconds))
    if whole < 60:
        divisor = next(d for d in (whole, 30, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1) if d <= whole and 60 % d == 0)
        return f"*/{divisor} * * * * *"
    minutes = max(1, whole // 60)
    divisor = next(d for d in (minutes, 30, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1) if d <= minutes and 60 % d == 0)
    return f"0 */{divisor} * * * *"


@DBOS.workflow(name="handrail.poll_metric_thresholds")
async def poll_metric_thresholds(scheduled_at: datetime, context: Any) -> list[str]:
    """One tick: every metric_threshold trigger checked; an incident opened or joined for each crossing."""
    crossings = await _crossings(scheduled_at.isoformat())
    opened = []
    for crossing in crossings:
        incident_id, was_opened = await _open_or_join(crossing)
        if was_opened:  # its workflow was enqueued with it (IncidentService.trigger)
            opened.append(incident_id)
    return opened


@DBOS.step(name="handrail.threshold_crossings")
async def _crossings(tick: str) -> list[dict[str, Any]]:
    runtime = current()
    if runtime.runbooks_folder is None:
        return []
    probe = runtime.probes.get("prometheus_query")
    if probe is None:
        return []
    found = []
    for runbook in Catalog.load(
        runtime.runbooks_folder, policy=runtime.policy
    ).active.values():  # a shadow rides beside its runbook
        for index, trigger in enumerate(runbook.triggers):
            if trigger.type != "metric_threshold" or trigger.metric_query is None or trigger.threshold is None:
                continue
            try:
                observation = await probe.observe(
                    PrometheusQueryParams.model_validate({"query": trigger.metric_query}), ProbeContext(timeout=10)
                )
            except ProbeError as exc:
                logger.warning("metric_threshold %s of %s: %s", index, runbook.id, exc)
                continue
            value = observation.values.get("value")
            if isinstance(value, int | float) and value >= trigger.threshold:
                found.append(
                    {
                        "runbook": runbook.model_dump(mode="json", by_alias=True, exclude_none=True),
                        "dedup": threshold_dedup_key(runbook.id, index),
                        "value": value,
                        "threshold": trigger.threshold,
                        "tick": tick,
                    }
                )
    return found


@DBOS.step(name="handrail.threshold_open")
async def _open_or_join(crossing: dict[str, Any]) -> tuple[str, bool]:
    service = current().service
    if service is None:
        raise RuntimeError("the engine runs without an incident service (composition.create_runtime builds one)")
    record, opened = await service.trigger(
        Runbook.model_validate(crossing["runbook"]),
        trigger_type="metric_threshold",
        triggered_by="metric poller",
        labels={"value": f"{crossing['value']:g}", "threshold": f"{crossing['threshold']:g}"},
        dedup_key=crossing["dedup"],
    )
    return record.id, opened
