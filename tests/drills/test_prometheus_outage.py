"""Drill: Prometheus down, slow and answering garbage while incidents run.

Each failure mode gets its own Prometheus connection and runbook, and one incident each, all at
once on one real worker: the diagnostic must read `error` with a message saying what went wrong,
within its step timeout (1 s here; the slow server takes 10 s), and the incident must still reach
its end: nothing healthy or critical can be read, so the `otherwise` branch pages people and the
incident escalates, without running the remediation meant for a critical reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.engine import EngineWorld
from support.prometheus import closed_port
from support.servers import HttpServer, Route

pytestmark = pytest.mark.timeout(90)

STEP_TIMEOUT = 1.0
MARGIN = 5.0
"""Generous: a loaded CI machine may be slow to schedule the worker, but never by the slow server's 10 s."""
SLOW = 10.0
HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
)

# connection: (how the server answers /<connection>/api/v1/query, what the diagnostic's message says)
MODES: dict[str, tuple[Route, str | tuple[str, ...]]] = {
    # the step's timeout and the probe's own (the same second) race: either may say so
    "slow": (Route(200, '{"status": "success"}', delay=SLOW), ("did not answer within 1s", "timed out after 1s")),
    "not_json": (
        Route(200, "<<<not json at all"),
        "answered HTTP 200 OK with a body that is not JSON: <<<not json at all",
    ),
    "json_list": (Route(200, "[1, 2, 3]"), "answered HTTP 200 OK with JSON that is not a Prometheus API response"),
    "wrong_shape": (
        Route(200, '{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": 7}]}}'),
        '`result[0].value` is not a [time, "value"] pair',
    ),
    "wrong_type": (
        Route(200, '{"status": "success", "data": {"resultType": "banana", "result": []}}'),
        "resultType 'banana'",
    ),
    "html_502": (
        Route(502, HTML_502, headers={"Content-Type": "text/html"}),
        "answered HTTP 502 Bad Gateway: <html><head><title>502 Bad Gateway</title>",
    ),
}
DOWN_MESSAGE = "cannot reach Prometheus 'down' at http://127.0.0.1:{port}: ConnectError"

RUNBOOK = """\
id: prom-{name}
name: Prometheus {name}
description: one diagnostic on the {name} Prometheus
severity: P2
service: prom-{name}
triggers: [{{type: manual}}]
diagnostics:
  - id: pool
    name: Pool Usage
    description: how full the pool is
    type: prometheus_query
    config: {{query: 'max(pool_usage{{service="{{{{ labels.service }}}}"}})', connection: {name}}}
    timeout: {timeout}
    interpret: {{critical: "value > 0.9", healthy: "value <= 0.9"}}
decisionTree:
  - condition: "diagnostics.pool.status == 'critical'"
    then: [fix]
    description: the pool is full
  - otherwise: true
    then: [page]
    description: cannot tell; people look
remediations:
  - id: fix
    name: Fix It
    description: would recycle the pool
    type: automated
    action:
      type: run_script
      config: {{command: [/bin/sh, -c, "echo ran >> {effects}"]}}
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#test"
  escalateAfterMinutes: 30
"""


def _strings(expected: str | tuple[str, ...]) -> tuple[str, ...]:
    return (expected,) if isinstance(expected, str) else expected


@pytest.fixture
def prometheus() -> Iterator[HttpServer]:
    routes = {f"/{name}/api/v1/query": route for name, (route, _) in MODES.items()}
    with HttpServer(routes) as server:
        yield server


def test_prometheus_down_slow_or_garbled_reads_error_in_time_and_incidents_escalate(
    tmp_path: Path, prometheus: HttpServer
) -> None:
    with closed_port() as down:
        connections = {name: prometheus.url(f"/{name}") for name in MODES} | {"down": f"http://127.0.0.1:{down}"}
        settings = "prometheus:\n" + "".join(f"  {name}: {{url: '{url}'}}\n" for name, url in connections.items())
        effects = tmp_path / "effects"
        books = {name: RUNBOOK.format(name=name, timeout=STEP_TIMEOUT, effects=effects) for name in connections}
        world = EngineWorld.create(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks=books, extra_settings=settings)
        with world.worker():
            incidents = {name: world.trigger(f"prom-{name}", service="payments") for name in connections}
            for incident in incidents.values():
                world.wait_state(incident.id, "escalated", timeout=30)
        for name, incident in incidents.items():
            record = asyncio.run(world.service.get(incident.id))
            assert record.assessment is not None
            (result,) = record.assessment["diagnosticResults"]
            expected = DOWN_MESSAGE.format(port=down) if name == "down" else MODES[name][1]
            assert result["status"] == "error", name
            assert any(text in result["message"] for text in _strings(expected)), (name, result["message"])
            assert result["durationMs"] <= (STEP_TIMEOUT + MARGIN) * 1000, (name, result["durationMs"])
            if name == "slow":  # it gave up at the step timeout, not for some other reason first
                assert result["durationMs"] >= STEP_TIMEOUT * 900
            # On the timeline: the whole assessment (diagnosing → plan) ended within the step timeout (+ margin).
            started = next(
                e.at for e in world.events(incident.id, "state") if e.data and e.data["state"] == "diagnosing"
            )
            planned = next(e.at for e in world.events(incident.id, "plan"))
            assert (planned - started).total_seconds() <= STEP_TIMEOUT + MARGIN < SLOW, name
            assert record.escalated
            assert [d["then"] for d in record.assessment["decisions"] if d["matched"]] == [["page"]]
            assert world.service.store.action_runs(incident.id) == []
    assert not effects.exists()  # the remediation for a critical reading never ran
    paths = {r.path for r in prometheus.requests}
    # each diagnostic's instant query, and beside it (#16) the evidence chart's range query of the hour before
    assert {path for path in paths if path.endswith("/query")} == {f"/{name}/api/v1/query" for name in MODES}
    assert paths <= {f"/{name}/api/v1/{kind}" for name in MODES for kind in ("query", "query_range")}
