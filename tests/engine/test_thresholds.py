"""metric_threshold triggers against a real Prometheus: the poller opens one incident and joins it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.engine.thresholds import cron_for
from support.engine import EngineWorld, runbook
from support.prometheus import MetricsExporter, PrometheusServer


@pytest.fixture(scope="module")
def exporter() -> Iterator[MetricsExporter]:
    with MetricsExporter() as exporter:
        exporter.set("handrail_test_queue_depth", 10)
        yield exporter


@pytest.fixture(scope="module")
def prometheus(exporter: MetricsExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer([exporter.address], workdir=tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [(1, "*/1 * * * * *"), (15, "*/15 * * * * *"), (7, "*/6 * * * * *"), (60, "0 */1 * * * *"), (300, "0 */5 * * * *")],
)
def test_poll_interval_becomes_a_cron_expression(seconds: float, cron: str) -> None:
    assert cron_for(seconds) == cron


def test_a_crossing_opens_one_incident_and_later_ticks_join_it(
    tmp_path: Path, exporter: MetricsExporter, prometheus: PrometheusServer
) -> None:
    book = runbook("queue", tmp_path, approval=True).replace(
        "triggers: [{type: manual}]",
        "triggers:\n  - type: metric_threshold\n    metricQuery: max(handrail_test_queue_depth)\n    threshold: 100",
    )
    (tmp_path / "queue.state").write_text("broken\n")
    settings = f"prometheus:\n  default: {{url: '{prometheus.url}'}}\n"
    world = EngineWorld.create(
        tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks={"queue": book}, extra_settings=settings
    )
    config = world.config.read_text().replace("engine:\n", "engine:\n  metricPollSeconds: 1\n")
    world.config.write_text(config)
    with world.worker():
        assert world.service.store.find() == []
        exporter.set("handrail_test_queue_depth", 150)
        prometheus.wait_for("max(handrail_test_queue_depth) >= 150")
        incident = _first_incident(world)
        world.wait(incident, lambda r: r.joins >= 2, what="later ticks joining", timeout=20)
    records = world.service.store.find()
    assert len(records) == 1
    assert records[0].trigger_type == "metric_threshold"
    assert records[0].labels == {"value": "150", "threshold": "100"}


def _first_incident(world: EngineWorld) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = world.service.store.find()
        if found:
            return found[0].id
        time.sleep(0.2)
    raise AssertionError("no incident opened")
