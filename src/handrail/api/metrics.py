"""`/metrics`: Prometheus metrics about incidents, alerts, actions and notifications."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from handrail.store import SqlIncidentStore
from handrail.store.schema import ACTION_RUNS, INCIDENTS, TIMELINE

__all__ = ["ALERTS", "CatalogCollector", "StoreCollector", "metrics_registry", "render"]

ALERTS = Counter(
    "handrail_alerts_received", "Alerts received from Alertmanager, by what became of them", ["result"], registry=None
)


class StoreCollector(Collector):
    """Reads the current figures from the database at scrape time (so every process agrees)."""

    def __init__(self, store: SqlIncidentStore, queue_depth: Callable[[], int] | None = None) -> None:
        self._store = store
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        incidents = GaugeMetricFamily(
            "handrail_incidents", "Incidents by state and runbook", labels=["state", "runbook"]
        )
        actions = GaugeMetricFamily(
            "handrail_action_runs", "Action runs by type and outcome", labels=["type", "status"]
        )
        failures = GaugeMetricFamily("handrail_notification_failures", "Notifications given up after every retry")
        with self._store.engine.connect() as connection:
            for state, runbook, count in connection.execute(
                sa.select(INCIDENTS.c.state, INCIDENTS.c.runbook_id, sa.func.count()).group_by(
                    INCIDENTS.c.state, INCIDENTS.c.runbook_id
                )
            ):
                incidents.add_metric([state, runbook], count)
            for kind, status, count in connection.execute(
                sa.select(ACTION_RUNS.c.action_type, ACTION_RUNS.c.status, sa.func.count()).group_by(
                    ACTION_RUNS.c.action_type, ACTION_RUNS.c.status
                )
            ):
                actions.add_metric([kind, status], count)
            failed = connection.execute(
                sa.select(sa.func.count())
                .select_from(TIMELINE)
                .where(TIMELINE.c.kind == "notification", TIMELINE.c.message.like("% could not deliver %"))
            ).scalar_one()
        failures.add_metric([], failed)
        yield from self._durations()
        yield incidents
        yield actions
        yield failures
        if self._queue_depth is not None:
            queue = GaugeMetricFamily("handrail_queue_depth", "Incident workflows waiting for a worker")
            queue.add_metric([], self._queue_depth())
            yield queue

    def _durations(self) -> Iterator[GaugeMetricFamily]:
        """Average and slowest duration of each diagnostic over the last hour (from the timeline)."""
        since = datetime.now(UTC) - timedelta(hours=1)
        query = (
            sa.select(INCIDENTS.c.runbook_id, TIMELINE.c.data)
            .join(INCIDENTS, INCIDENTS.c.id == TIMELINE.c.incident_id)
            .where(TIMELINE.c.kind == "diagnostic", TIMELINE.c.at >= since)
        )
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        with self._store.engine.connect() as connection:
            for runbook_id, data in connection.execute(query):
                if isinstance(data, dict) and isinstance(data.get("durationMs"), int | float):
                    samples[(runbook_id, str(data.get("stepId")))].append(data["durationMs"] / 1000)
        labels = ["runbook", "diagnostic"]
        average = GaugeMetricFamily(
            "handrail_diagnostic_duration_seconds_avg", "Mean diagnostic duration over the last hour", labels=labels
        )
        slowest = GaugeMetricFamily(
            "handrail_diagnostic_duration_seconds_max", "Slowest diagnostic duration over the last hour", labels=labels
        )
        for key, values in sorted(samples.items()):
            average.add_metric(list(key), sum(values) / len(values))
            slowest.add_metric(list(key), max(values))
        yield average
        yield slowest


class CatalogCollector(Collector):
    """How many files in the runbook folder have errors (each is logged by name when the folder loads)."""

    def __init__(self, broken_files: Callable[[], int]) -> None:
        self._broken_files = broken_files

    def collect(self) -> Iterator[GaugeMetricFamily]:
        broken = GaugeMetricFamily("handrail_runbook_files_broken", "Runbook files with errors (`handrail lint`)")
        broken.add_metric([], self._broken_files())
        yield broken


def metrics_registry(
    store: SqlIncidentStore,
    queue_depth: Callable[[], int] | None = None,
    *,
    broken_files: Callable[[], int] | None = None,
) -> CollectorRegistry:
    """One registry per app: the process's counters and the figures read from the database."""
    registry = CollectorRegistry()
    registry.register(ALERTS)
    registry.register(StoreCollector(store, queue_depth))
    if broken_files is not None:
        registry.register(CatalogCollector(broken_files))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
