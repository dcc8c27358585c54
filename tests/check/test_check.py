"""`handrail check` against a real Prometheus (an exporter scraped, alerting rules loaded) and the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from handrail.check import check_paths, create_checkers
from handrail.diagnostics.base import HttpConnection
from handrail.settings import Settings
from handrail.sql import DatabaseConnection
from support.fixtures import place_of
from support.prometheus import MetricsExporter, PrometheusServer, closed_port

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

RULES = [
    {
        "alert": "OrdersQueueBacklog",
        "expr": "orders_queue_depth > 1000",
        "for": "1m",
        "labels": {"severity": "page", "cluster": "staging"},
    }
]

ROTTEN = """\
id: orders-rotten
name: Orders Rotten
description: a runbook whose world moved on
severity: P2
service: orders
triggers:
  - type: alert
    alertName: OrderQueueBacklog
  - type: alert
    alertName: OrdersQueueBacklog
    labels:
      cluster: prod
      team: "=~pay.*"
      queue: main
diagnostics:
  - id: depth
    name: Depth
    description: d
    type: prometheus_query
    config:
      query: 'sum(orders_queue_dept{{queue="main"}})'
    interpret: {{healthy: value < 100}}
  - id: by_region
    name: By Region
    description: d
    type: prometheus_query
    config:
      query: >-
        sum(orders_queue_depth{{queue="{{{{ labels.queue }}}}",
        region="eu"}})
    interpret: {{healthy: value < 100}}
  - id: broken
    name: Broken
    description: d
    type: prometheus_query
    config: {{query: 'rate(orders_queue_depth[5m]'}}
    interpret: {{healthy: value < 100}}
  - id: stuck
    name: Stuck Jobs
    description: d
    type: database_query
    config:
      database: main
      query: SELECT count(*) FROM {schema}.order_jobs WHERE state = {{{{ labels.state }}}}
    interpret: {{healthy: value == 0}}
decisionTree:
  - {{otherwise: true, then: [page], description: d}}
remediations:
  - {{id: page, name: Page, description: d, type: escalate}}
escalation: {{primary: "#orders"}}
"""

CLEAN = """\
id: orders-clean
name: Orders Clean
description: a runbook that still fits its world
severity: P2
service: orders
triggers:
  - type: alert
    alertName: OrdersQueueBacklog
    labels: {{cluster: staging, queue: main}}
  - type: metric_threshold
    metricQuery: sum(orders_queue_depth)
    threshold: 1000
diagnostics:
  - id: depth
    name: Depth
    description: d
    type: prometheus_query
    config: {{query: 'sum by (queue) (rate(orders_queue_depth{{queue="{{{{ labels.queue }}}}"}}[5m]))'}}
    interpret: {{healthy: value < 100}}
  - id: stuck
    name: Stuck Jobs
    description: d
    type: database_query
    config:
      database: main
      query: >-
        SELECT count(*) FROM {schema}.jobs
        WHERE state = {{{{ labels.state }}}} AND queue = 'main'
    interpret: {{healthy: value == 0}}
  - id: tool
    name: Tool
    description: d
    type: shell_command
    config: {{command: [sh, -c, "true"]}}
    interpret: {{healthy: exit_code == 0}}
decisionTree:
  - {{otherwise: true, then: [requeue], description: d}}
remediations:
  - id: requeue
    name: Requeue
    description: d
    type: automated
    action:
      type: run_script
      config:
        database: main
        sql: UPDATE {schema}.jobs SET state = 'queued' WHERE state = 'stuck'; VACUUM {schema}.jobs
escalation: {{primary: "#orders"}}
"""


@pytest.fixture(scope="module")
def exporter() -> Iterator[MetricsExporter]:
    with MetricsExporter() as exporter:
        exporter.set("orders_queue_depth", 5, labels={"queue": "main"})
        yield exporter


@pytest.fixture(scope="module")
def prometheus(exporter: MetricsExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir = tmp_path_factory.mktemp("prometheus")
    with PrometheusServer([exporter.address], workdir=workdir, rules=RULES) as server:
        yield server


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    """A schema of its own with `jobs(state, queue)`, dropped afterwards."""
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    name = f"hr_check_{uuid.uuid4().hex[:12]}"
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE SCHEMA {name}")
        db.exec_driver_sql(f"CREATE TABLE {name}.jobs (id int PRIMARY KEY, state text, queue text)")
        db.exec_driver_sql(f"INSERT INTO {name}.jobs VALUES (1, 'stuck', 'main')")
    yield name
    with engine.begin() as db:
        db.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    engine.dispose()


@pytest.fixture
def folder(tmp_path: Path, schema: str, prometheus: PrometheusServer) -> Path:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "rotten.yaml").write_text(ROTTEN.format(schema=schema))
    (tmp_path / "runbooks" / "clean.yaml").write_text(CLEAN.format(schema=schema))
    (tmp_path / "handrail.yaml").write_text(
        f"runbooks: runbooks\nprometheus:\n  default: {{url: '{prometheus.url}'}}\n"
        f"databases:\n  main: {{url: '{POSTGRES_URL}'}}\n"
    )
    return tmp_path


def handrail(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handrail", *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_finds_each_rotten_reference_at_its_line_and_column_with_did_you_mean(folder: Path, schema: str) -> None:
    result = handrail(folder, "check", "runbooks/rotten.yaml")
    assert result.returncode == 1, result.stderr
    text = (folder / "runbooks" / "rotten.yaml").read_text()
    lines = result.stdout.splitlines()
    at = {
        line.split(": ", 1)[0].removeprefix("runbooks/rotten.yaml:") + " " + line.split(": ", 2)[1][:5]: line
        for line in lines
    }
    alert = at[f"{place_of(text, 'OrderQueueBacklog')} HR604"]
    assert "no alerting rule loaded on Prometheus 'default' (http://127.0.0.1:" in alert
    assert alert.endswith("defines the alert 'OrderQueueBacklog'; did you mean 'OrdersQueueBacklog'?")
    metric = at[f"{place_of(text, 'orders_queue_dept{')} HR601"]
    assert "metric 'orders_queue_dept' has no series on Prometheus 'default'" in metric
    assert metric.endswith("did you mean 'orders_queue_depth'?")
    label = at[f"{place_of(text, 'region=')} HR602"]
    assert "no series of 'orders_queue_depth' on Prometheus 'default'" in label
    assert "has the label 'region'" in label
    assert f"{place_of(text, 'rate(orders_queue_depth[5m]')} HR603" in at
    table = at[f"{place_of(text, 'order_jobs')} HR605"]
    assert "database 'main' (postgresql://postgres@127.0.0.1:5432/test) cannot plan the SQL" in table
    assert f'relation "{schema}.order_jobs" does not exist' in table
    cluster = at[f"{place_of(text, 'prod')} HR650"]
    assert "warning: no alerting rule 'OrdersQueueBacklog'" in cluster
    assert "label 'cluster' a value that matches 'prod'" in cluster
    team = place_of(text, '"=~pay.*"')
    assert f"{team} HR650" in at
    assert len(lines) == 7, result.stdout  # `queue: main` can come from the series: no warning
    assert result.stderr.strip() == "Found 5 errors and 2 warnings in 1 file."


def test_check_passes_a_runbook_that_fits_its_systems(folder: Path) -> None:
    result = handrail(folder, "check", "runbooks/clean.yaml")
    assert result.stdout == ""
    assert result.stderr.strip() == "All clean: 1 file checked."
    assert result.returncode == 0


def test_check_json_reports_the_catalog_and_strict_fails_on_warnings(folder: Path) -> None:
    (folder / "runbooks" / "rotten.yaml").write_text(
        (folder / "runbooks" / "clean.yaml")
        .read_text()
        .replace("orders-clean", "orders-warned")
        .replace("cluster: staging", "cluster: prod")
    )
    result = handrail(folder, "check", "--format", "json")
    body = json.loads(result.stdout)
    assert body["summary"] == {"files": 2, "errors": 0, "warnings": 1}
    assert [(p["code"], p["severity"]) for p in body["problems"]] == [("HR650", "warning")]
    assert result.returncode == 0
    assert handrail(folder, "check", "--strict").returncode == 1


async def test_an_unreachable_system_is_one_finding_and_the_other_checks_still_run(folder: Path, schema: str) -> None:
    with closed_port() as port:
        checkers = create_checkers(
            Settings(
                prometheus={"default": HttpConnection(url=f"http://127.0.0.1:{port}")},
                databases={"main": DatabaseConnection.model_validate({"url": POSTGRES_URL})},
            )
        )
        try:
            (result,) = await check_paths([folder / "runbooks" / "rotten.yaml"], checkers)
        finally:
            await checkers.aclose()
    codes = [problem.code for problem in result.problems]
    assert codes.count("HR606") == 1
    assert codes.count("HR605") == 1
    unreachable = next(p for p in result.problems if p.code == "HR606")
    assert f"Prometheus 'default' (http://127.0.0.1:{port}) cannot be reached: ConnectError" in unreachable.message


def test_check_of_a_file_with_lint_errors_shows_them_and_checks_nothing(folder: Path) -> None:
    (folder / "runbooks" / "rotten.yaml").write_text("id: broken\n")
    result = handrail(folder, "check", "runbooks/rotten.yaml")
    assert result.returncode == 1
    assert "HR101" in result.stdout
    assert "HR6" not in result.stdout
