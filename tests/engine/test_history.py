"""engine/history.py against a real Prometheus: the hour before of each query, bounded, and never a failure.

The incident's workflow calls `record_history` beside the assessment (engine/incident.py); the
browser test (tests/console/test_browser.py) follows one through `handrail serve` to the chart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import yaml

from handrail.diagnostics.base import HttpConnection
from handrail.diagnostics.prometheus_query import PrometheusQueryProbe
from handrail.engine.history import HISTORY_POINTS, MAX_POINTS, MAX_SERIES, record_history, trend
from handrail.runbook.model import Runbook
from support.prometheus import JOB, MetricsExporter, PrometheusServer, closed_port

pytestmark = pytest.mark.timeout(90)

BUSY = {pod: 10.0 * number for number, pod in enumerate("abcdefg", 1)}  # g is the busiest


def runbook(*, query: str = 'cpu_busy{job="{{ labels.job }}"}') -> Runbook:
    return Runbook.model_validate(
        yaml.safe_load(
            f"""
id: cpu
name: CPU
description: busy pods
severity: P2
service: web
triggers:
  - {{type: metric_threshold, metricQuery: "max(cpu_busy)", threshold: 50}}
diagnostics:
  - id: busy
    name: Busy pods
    description: how busy each pod is
    type: prometheus_query
    config: {{query: '{query}'}}
    interpret: {{critical: "value > 70", healthy: "value <= 70"}}
  - id: state
    name: State
    description: not a Prometheus query
    type: shell_command
    config: {{command: "true"}}
    interpret: {{healthy: "true"}}
decisionTree: [{{otherwise: true, then: [page], description: anything}}]
remediations: [{{id: page, name: Page, description: page someone, type: escalate}}]
escalation: {{primary: "#web"}}
"""
        )
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with MetricsExporter() as exporter:
        for pod, value in BUSY.items():
            exporter.set("cpu_busy", value, labels={"pod": pod})
        with PrometheusServer([exporter.address], workdir=tmp_path_factory.mktemp("prometheus")) as server:
            server.wait_for("count_over_time(cpu_busy[1m]) >= 4", what="a few samples of every pod")
            yield server


@pytest.fixture
async def probe(prometheus: PrometheusServer) -> AsyncIterator[PrometheusQueryProbe]:
    probe = PrometheusQueryProbe({"default": HttpConnection(url=prometheus.url)})
    yield probe
    await probe.aclose()


async def charts_of(probe: Any, **options: Any) -> dict[str, dict[str, Any]]:
    found = await record_history(
        options.pop("book", None) or runbook(),
        probes={"prometheus_query": probe},
        labels={"job": JOB},
        annotations={},
        end=time.time(),
        minute_seconds=1,  # the hour before is 60 engine minutes: a minute here
        **options,
    )
    return {chart["id"]: chart for chart in found}


async def test_each_prometheus_diagnostic_and_metric_trigger_records_the_hour_before(
    probe: PrometheusQueryProbe,
) -> None:
    charts = await charts_of(probe)
    assert set(charts) == {"busy", "trigger-0"}  # the shell diagnostic has no history
    busy = charts["busy"]
    assert busy["source"] == "diagnostic"
    assert busy["name"] == "Busy pods"
    assert busy["query"] == f'cpu_busy{{job="{JOB}"}}'  # rendered with the alert's labels, as the diagnostic ran it
    assert busy["end"] - busy["start"] == pytest.approx(60)
    assert busy["step"] == pytest.approx(60 / HISTORY_POINTS)
    assert "error" not in busy
    # the top few: the busiest pods by their peak, highest first; the rest only counted
    assert busy["seriesTotal"] == len(BUSY)
    assert [s["labels"]["pod"] for s in busy["series"]] == ["g", "f", "e", "d", "c"][:MAX_SERIES]
    for series in busy["series"]:
        assert 4 <= len(series["points"]) <= MAX_POINTS
        assert all(0 <= offset <= 60 for offset, _ in series["points"])
        assert {value for _, value in series["points"]} == {BUSY[series["labels"]["pod"]]}
    trigger = charts["trigger-0"]
    assert trigger["source"] == "trigger"
    assert trigger["threshold"] == 50
    assert trigger["query"] == "max(cpu_busy)"
    assert [s["labels"] for s in trigger["series"]] == [{}]


async def test_a_verification_records_no_trigger_chart(probe: PrometheusQueryProbe) -> None:
    assert set(await charts_of(probe, triggers=False)) == {"busy"}


async def test_a_range_query_that_fails_is_recorded_with_why_and_raises_nothing() -> None:
    with closed_port() as port:
        probe = PrometheusQueryProbe({"default": HttpConnection(url=f"http://127.0.0.1:{port}")})
        try:
            charts = await charts_of(probe)
        finally:
            await probe.aclose()
    assert set(charts) == {"busy", "trigger-0"}
    for chart in charts.values():
        assert chart["series"] == []
        assert "cannot reach Prometheus 'default'" in chart["error"]


async def test_a_query_prometheus_refuses_is_recorded_with_its_error(probe: PrometheusQueryProbe) -> None:
    charts = await charts_of(probe, book=runbook(query="rate(cpu_busy)"))  # rate() needs a range vector
    assert charts["busy"]["series"] == []
    assert "bad_data" in charts["busy"]["error"]
    assert charts["trigger-0"]["series"]  # one failing query leaves the others alone


async def test_without_a_probe_that_keeps_history_nothing_is_recorded() -> None:
    assert await charts_of(object()) == {}


def test_a_trend_keeps_the_highest_value_of_each_slice() -> None:
    points = [[i, 1.0] for i in range(40)]
    points[13][1] = 9.0  # one spike
    chart = {"series": [{"labels": {}, "points": points}, {"labels": {}, "points": [[0, 100.0], [1, 100.0]]}]}
    found = trend(chart, width=20)
    assert len(found) == 20
    assert found.count(9.0) == 1  # the spike survives the slicing
    assert max(found) == 9.0  # only the first (highest-ranked) series
    assert trend({"series": []}) == []
    assert trend({"series": [{"points": [[0, None], [1, 2.0]]}]}) == []  # one number is no line
    assert trend(None) == []
