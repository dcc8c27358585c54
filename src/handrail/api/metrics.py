"""`/metrics`: Prometheus metrics about incidents, alerts, actions and notifications."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from handrail.engine.service import StoreFigures

__all__ = ["ALERTS", "CatalogCollector", "LiveCheckCollector", "StoreCollector", "metrics_registry", "render"]

ALERTS = Counter(
    "handrail_alerts_received", "Alerts received from Alertmanager, by what became of them", ["result"], registry=None
)


class StoreCollector(Collector):
    """The current figures from the database at scrape time (so every process agrees).

    `figures` and `queue_depth` block on the database: `/metrics` renders on the service's pool.
    """

    def __init__(self, figures: Callable[[], StoreFigures], queue_depth: Callable[[], int] | None = None) -> None:
        self._figures = figures
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        figures = self._figures()
        incidents = GaugeMetricFamily(
            "handrail_incidents", "Incidents by state and runbook", labels=["state", "runbook"]
        )
        for state, runbook, count in figures.incidents:
            incidents.add_metric([state, runbook], count)
        actions = GaugeMetricFamily(
            "handrail_action_runs", "Action runs by type and outcome", labels=["type", "status"]
        )
        for kind, status, count in figures.action_runs:
            actions.add_metric([kind, status], count)
        failures = GaugeMetricFamily("handrail_notification_failures", "Notifications given up after every retry")
        failures.add_metric([], figures.notification_failures)
        yield from self._durations(figures)
        yield from self._shadows(figures)
        yield incidents
        yield actions
        yield failures
        if self._queue_depth is not None:
            queue = GaugeMetricFamily("handrail_queue_depth", "Incident workflows waiting for a worker")
            queue.add_metric([], self._queue_depth())
            yield queue

    @staticmethod
    def _shadows(figures: StoreFigures) -> Iterator[CounterMetricFamily]:
        """Each shadow version's runs compared with its active runbook's plan, and how many planned the same (#15)."""
        labels = ["runbook", "shadow"]
        runs = CounterMetricFamily(
            "handrail_shadow_runs",
            "Shadow runs whose plan and the active incident's plan are both recorded",
            labels=labels,
        )
        agreements = CounterMetricFamily(
            "handrail_shadow_agreements",
            "Shadow runs that planned the same remediations, in the same order, as the active incident",
            labels=labels,
        )
        for tally in figures.shadows:
            runs.add_metric([tally.runbook, tally.shadow], tally.runs)
            agreements.add_metric([tally.runbook, tally.shadow], tally.agreements)
        yield runs
        yield agreements

    @staticmethod
    def _durations(figures: StoreFigures) -> Iterator[GaugeMetricFamily]:
        """Average and slowest duration of each diagnostic over the last hour (from the timeline)."""
        labels = ["runbook", "diagnostic"]
        average = GaugeMetricFamily(
            "handrail_diagnostic_duration_seconds_avg", "Mean diagnostic duration over the last hour", labels=labels
        )
        slowest = GaugeMetricFamily(
            "handrail_diagnostic_duration_seconds_max", "Slowest diagnostic duration over the last hour", labels=labels
        )
        for key, values in sorted(figures.diagnostic_seconds.items()):
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


class LiveCheckCollector(Collector):
    """What the last live check found, by runbook and code (`handrail check`, docs/check.md)."""

    def __init__(self, counts: Callable[[], list[tuple[str, str, int]]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        problems = GaugeMetricFamily(
            "handrail_runbook_live_problems",
            "Problems the last live check found in each runbook, by code (HR6nn)",
            labels=["runbook", "code"],
        )
        for runbook, code, count in self._counts():
            problems.add_metric([runbook, code], count)
        yield problems


def metrics_registry(
    figures: Callable[[], StoreFigures],
    queue_depth: Callable[[], int] | None = None,
    *,
    broken_files: Callable[[], int] | None = None,
    live_problems: Callable[[], list[tuple[str, str, int]]] | None = None,
) -> CollectorRegistry:
    """One registry per app: the process's counters and the figures read from the database."""
    registry = CollectorRegistry()
    registry.register(ALERTS)
    registry.register(StoreCollector(figures, queue_depth))
    if broken_files is not None:
        registry.register(CatalogCollector(broken_files))
    if live_problems is not None:
        registry.register(LiveCheckCollector(live_problems))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
