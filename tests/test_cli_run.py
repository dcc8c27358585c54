"""`handrail run` end to end: a real process against a real Prometheus, HTTP server, SQLite, shell and log file."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.prometheus import MetricsExporter, PrometheusServer, closed_port
from support.servers import HttpServer, Route

RUNBOOK = """\
id: checkout-slow
name: Checkout Slow
description: End-to-end runbook for handrail run
severity: P2
service: checkout
triggers: [{type: manual}]
diagnostics:
  - id: pool
    name: Connection Pool
    description: pool use in percent
    type: prometheus_query
    config: {query: 'checkout_pool_used_percent{service="{{ labels.service }}"}'}
    timeout: 5
    interpret: {critical: value >= 90, warning: value >= 70, healthy: value < 70}
  - id: health
    name: Health Endpoint
    description: the service answers
    type: http_check
    config: {urls: [{name: checkout, url: '%(health_url)s'}]}
    timeout: 5
    interpret: {critical: any_unreachable || !all_healthy, healthy: all_healthy}
  - id: workers
    name: Worker Count
    description: from a script
    type: shell_command
    config: {command: "printf '{\\"workers\\": 3}'"}
    timeout: 5
    derive: {workers: json.workers}
    interpret: {critical: workers == 0, healthy: workers > 0}
  - id: queue
    name: Queue Depth
    description: from the database
    type: database_query
    config: {database: app, query: 'SELECT depth FROM queue WHERE name = {{ labels.service }}'}
    timeout: 5
    interpret: {warning: value > 100, healthy: value <= 100}
  - id: errors
    name: Error Lines
    description: in the log
    type: log_search
    config: {paths: ['%(log)s'], pattern: ERROR, window: 1h}
    timeout: 5
    interpret: {warning: count > 1, healthy: count <= 1}
decisionTree:
  - {condition: "diagnostics.pool.status == 'critical'", then: [drain_pool], description: Pool exhausted}
  - {condition: "diagnostics.queue.status == 'warning'", then: [page], description: Queue backing up}
  - {otherwise: true, then: [page], description: Nothing conclusive}
remediations:
  - {id: drain_pool, name: Drain the Pool, description: d, type: manual, instructions: "1. drain it"}
  - {id: page, name: Page, description: d, type: escalate}
escalation: {primary: "#checkout"}
"""


@pytest.fixture(scope="module")
def exporter() -> Iterator[MetricsExporter]:
    with MetricsExporter() as exporter:
        exporter.set("checkout_pool_used_percent", 95, labels={"service": "checkout"})
        yield exporter


@pytest.fixture(scope="module")
def prometheus(exporter: MetricsExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer([exporter.address], workdir=tmp_path_factory.mktemp("prometheus")) as server:
        server.wait_for('checkout_pool_used_percent{service="checkout"}')
        yield server


@pytest.fixture
def health() -> Iterator[HttpServer]:
    with HttpServer({"/health": Route(200, b"ok")}) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, health: HttpServer) -> Path:
    database = tmp_path / "app.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE queue (name TEXT, depth INTEGER)")
        connection.execute("INSERT INTO queue VALUES ('checkout', 250)")
    log = tmp_path / "app.log"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.write_text(f"{now} INFO started\n{now} ERROR one\n{now} ERROR two\n")
    (tmp_path / "runbook.yaml").write_text(RUNBOOK % {"health_url": health.url("/health"), "log": log})
    (tmp_path / "handrail.yaml").write_text(f"runbooks: .\ndatabases:\n  app: {{url: 'sqlite:///{database}'}}\n")
    return tmp_path


def handrail(cwd: Path, *args: str, prometheus_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_URL": prometheus_url}
    return subprocess.run(
        [sys.executable, "-m", "handrail", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_json_collects_every_kind_of_evidence_and_decides(world: Path, prometheus: PrometheusServer) -> None:
    result = handrail(
        world, "run", "checkout-slow", "--label", "service=checkout", "--json", prometheus_url=prometheus.url
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    statuses = {r["stepId"]: r["status"] for r in body["diagnosticResults"]}
    assert statuses == {
        "pool": "critical",
        "health": "healthy",
        "workers": "healthy",
        "queue": "warning",
        "errors": "warning",
    }
    assert body["recommendedActions"] == ["drain_pool", "page"]
    assert [d["matched"] for d in body["decisions"]] == [True, True, False]
    assert body["overallSeverity"] == "critical"
    workers = next(r for r in body["diagnosticResults"] if r["stepId"] == "workers")
    assert workers["facts"] == {"workers": 3}
    assert body["timeline"][0]["event"] == 'Runbook "Checkout Slow" triggered'


def test_run_prints_results_decisions_and_recommendations(world: Path, prometheus: PrometheusServer) -> None:
    result = handrail(world, "run", "checkout-slow", "--label", "service=checkout", prometheus_url=prometheus.url)
    assert result.returncode == 0, result.stderr
    assert "Connection Pool" in result.stdout
    assert "Pool exhausted" in result.stdout
    assert "Recommended remediations (nothing has been run)" in result.stdout
    assert "Drain the Pool [drain_pool] (manual)" in result.stdout
    assert "1. drain it" in result.stdout


def test_fail_on_sets_the_exit_code(world: Path, prometheus: PrometheusServer) -> None:
    args = ("run", "checkout-slow", "--label", "service=checkout", "--json")
    assert handrail(world, *args, "--fail-on", "critical", prometheus_url=prometheus.url).returncode == 1
    healthy = handrail(world, *args, prometheus_url=prometheus.url)
    assert healthy.returncode == 0


def test_hostile_label_changes_nothing_but_the_value(world: Path, prometheus: PrometheusServer) -> None:
    hostile = 'checkout"}) or vector(1) #'
    result = handrail(
        world, "run", "checkout-slow", "--label", f"service={hostile}", "--json", prometheus_url=prometheus.url
    )
    assert result.returncode == 0, result.stderr
    results = {r["stepId"]: r for r in json.loads(result.stdout)["diagnosticResults"]}
    assert results["pool"]["rawValue"]["empty"] is True  # the query matched no series: not `vector(1)`
    assert results["pool"]["status"] == "unknown"
    assert results["queue"]["rawValue"]["row_count"] == 0  # a bind parameter, not SQL


def test_prometheus_down_reads_error_and_the_fallback_fires(world: Path) -> None:
    with closed_port() as port:
        result = handrail(
            world,
            "run",
            "checkout-slow",
            "--label",
            "service=checkout",
            "--json",
            prometheus_url=f"http://127.0.0.1:{port}",
        )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    pool = next(r for r in body["diagnosticResults"] if r["stepId"] == "pool")
    assert pool["status"] == "error"
    assert "cannot reach" in pool["message"]
    assert body["recommendedActions"] == ["page"]


def test_bad_label_argument_is_a_usage_error(world: Path) -> None:
    result = handrail(world, "run", "checkout-slow", "--label", "no-equals-sign", prometheus_url="http://127.0.0.1:9")
    assert result.returncode == 2
    assert "KEY=VALUE" in result.stderr
