"""metric_threshold triggers against a real Prometheus: the poller opens one incident and joins it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.composition import create_runtime, open_service
from handrail.engine.incident import INCIDENT_QUEUE, INCIDENT_WORKFLOW, SHADOW_WORKFLOW
from handrail.engine.runtime import install, uninstall
from handrail.engine.thresholds import _open_or_join, cron_for
from handrail.runbook.model import Runbook
from handrail.settings import load_settings
from support.engine import EngineWorld, runbook
from support.prometheus import MetricsExporter, PrometheusServer

RUNBOOK = Runbook.model_validate(
    {
        "id": "r",
        "name": "R",
        "description": "d",
        "severity": "P3",
        "service": "s",
        "triggers": [{"type": "metric_threshold", "metricQuery": "max(x)", "threshold": 100}],
        "diagnostics": [],
        "decisionTree": [{"otherwise": True, "then": ["page"], "description": "d"}],
        "remediations": [{"id": "page", "name": "Page", "description": "d", "type": "escalate"}],
        "escalation": {"primary": "#x", "escalateAfterMinutes": 5},
    }
)


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


def test_a_crossing_opens_through_the_service_with_its_workflow_on_the_incident_queue(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    config = tmp_path / "handrail.yaml"
    config.write_text(f"runbooks: runbooks\ndatabase: 'sqlite:///{tmp_path / 'h.db'}'\n")
    settings = load_settings(config, environ={})
    service = open_service(settings)
    install(create_runtime(settings, service.store))
    crossing = {
        "runbook": RUNBOOK.model_dump(mode="json", by_alias=True, exclude_none=True),
        "dedup": "r|metric_threshold|0",
        "value": 150,
        "threshold": 100,
        "tick": "2026-01-05T09:00:00+00:00",
    }
    try:
        opened = asyncio.run(_open_or_join(crossing))  # a DBOS step, run as a plain call outside a workflow
        joined = asyncio.run(_open_or_join(crossing))
        workflows = service.client.list_workflows()
    finally:
        uninstall()
        service.close()
    assert opened == (joined[0], True)
    assert joined[1] is False
    assert re.fullmatch(r"INC-[0-9A-F]{12}", opened[0])  # the service's incident id
    # enqueued with the incident, in its transaction, like every other trigger (#14)
    assert [(w.workflow_id, w.queue_name) for w in workflows] == [(opened[0], INCIDENT_QUEUE)]


def test_a_crossing_brings_the_runbook_s_shadow_versions_along(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    active = RUNBOOK.model_dump(mode="json", by_alias=True, exclude_none=True)
    (tmp_path / "runbooks" / "r.json").write_text(json.dumps(active))
    (tmp_path / "runbooks" / "r-v2.json").write_text(json.dumps({**active, "id": "r-v2", "shadowOf": "r"}))
    config = tmp_path / "handrail.yaml"
    config.write_text(f"runbooks: runbooks\ndatabase: 'sqlite:///{tmp_path / 'h.db'}'\n")
    settings = load_settings(config, environ={})
    service = open_service(settings)
    install(create_runtime(settings, service.store))
    crossing = {"runbook": active, "dedup": "r|metric_threshold|0", "value": 150, "threshold": 100, "tick": "t"}
    try:
        incident_id, opened = asyncio.run(_open_or_join(crossing))
        shadows = service.store.shadows(incident_id)
        workflows = {w.workflow_id: w.name for w in service.client.list_workflows()}
    finally:
        uninstall()
        service.close()
    assert opened
    assert [(s.runbook_id, dict(s.labels), s.trigger_type) for s in shadows] == [
        ("r-v2", {"value": "150", "threshold": "100"}, "metric_threshold")
    ]
    assert workflows == {incident_id: INCIDENT_WORKFLOW, shadows[0].id: SHADOW_WORKFLOW}
