"""Scale-out drills on PostgreSQL: API processes and workers as real subprocesses on one fresh database.

- Two workers and one API, 200 incidents in flight, one worker SIGKILLed: every incident finishes and no
  action runs twice, counted by the action's own side effect (support/fleet.py).
- The DBOS queue spreads incidents over the workers, never more at once on one than its
  `engine.workerConcurrency`.
- Two API processes receiving the same alert storm open exactly one incident per key.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.engine import postgres_database
from support.fleet import ALERTMANAGER_TOKEN, Fleet

QUEUE = "handrail-incidents"


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_database("handrail_drill") as url:
        yield url


def pending_by_executor(fleet: Fleet) -> dict[str, list[str]]:
    """The incident workflows each executor is running now."""
    rows = fleet.query(
        "SELECT executor_id, workflow_uuid FROM dbos.workflow_status WHERE queue_name = :queue AND status = 'PENDING'",
        queue=QUEUE,
    )
    running: dict[str, list[str]] = {}
    for row in rows:
        running.setdefault(row.executor_id, []).append(row.workflow_uuid)
    return running


def test_a_killed_worker_is_taken_over_and_no_action_runs_twice(tmp_path: Path, database_url: str) -> None:
    """200 incidents over two workers; worker `a` is SIGKILLed with a third of the actions started.

    Every incident finishes: resolved, or — for an action the kill interrupted — escalated with its run
    `outcome_unknown` (never started again, docs/incidents.md). The effects file shows no idempotency key
    started twice, and every run recorded `succeeded` started and ended exactly once.
    """
    fleet = Fleet.create(tmp_path, database_url, action_delay=0.3, takeover_after=3)
    with fleet.api() as api, fleet.worker("a") as a, fleet.worker("b") as b:
        incident_ids = fleet.trigger(api, range(200))
        deadline = time.monotonic() + 60
        while len(fleet.effects().starts) < 60:
            assert time.monotonic() < deadline, a.log() + b.log()
            time.sleep(0.05)
        a.kill()
        at_kill = pending_by_executor(fleet)  # what `a` held when it died: nobody takes it over for 3 s
        assert at_kill.get("a"), f"worker a ran nothing when it was killed: {at_kill}"
        assert at_kill.get("b"), f"the queue did not spread: {at_kill}"
        states = fleet.wait_closed(incident_ids, timeout=120, logs=lambda: b.log())
        fleet.wait_drained(timeout=30)
        assert b.process is not None
        assert b.process.poll() is None, "the surviving worker died"

    runs = fleet.query("SELECT incident_id, key, status FROM handrail_action_runs")
    assert sorted(run.incident_id for run in runs) == sorted(incident_ids), "one action run per incident"
    effects = fleet.effects()
    assert max(effects.starts.values()) == 1, [key for key, n in effects.starts.items() if n > 1]
    for run in runs:
        if run.status == "succeeded":
            assert (effects.starts[run.key], effects.ends[run.key]) == (1, 1), run
            assert states[run.incident_id] == "resolved", run
        else:
            assert run.status == "outcome_unknown", run
            assert effects.starts[run.key] <= 1
            assert states[run.incident_id] == "escalated", run
    assert Counter(states.values())["resolved"] >= 100

    taken_over = {
        row.incident_id for row in fleet.query("SELECT incident_id FROM handrail_timeline WHERE kind = 'takeover'")
    }
    assert taken_over, "no incident of the killed worker was taken over"
    assert taken_over == set(at_kill["a"]), "every incident the killed worker held, and only those"
    finished_on = fleet.query(
        "SELECT executor_id, status FROM dbos.workflow_status WHERE workflow_uuid = ANY(:ids)", ids=list(taken_over)
    )
    assert {(row.executor_id, row.status) for row in finished_on} == {("b", "SUCCESS")}
    assert [row.executor_id for row in fleet.query("SELECT executor_id FROM handrail_workers")] == ["b"]


def test_the_queue_spreads_incidents_within_each_workers_concurrency(tmp_path: Path, database_url: str) -> None:
    """24 incidents whose action takes a second, two workers limited to 4 at once: each runs 4, never 5."""
    fleet = Fleet.create(tmp_path, database_url, action_delay=1.0, verify_after=0.2, worker_concurrency=4)
    with fleet.api() as api, fleet.worker("a"), fleet.worker("b"):
        incident_ids = fleet.trigger(api, range(24))
        most: Counter[str] = Counter()
        deadline = time.monotonic() + 90
        while set(fleet.states(incident_ids).values()) != {"resolved"}:
            assert time.monotonic() < deadline, fleet.states(incident_ids)
            for executor, running in pending_by_executor(fleet).items():
                most[executor] = max(most[executor], len(running))
            time.sleep(0.1)
    assert most == {"a": 4, "b": 4}
    ran_on = Counter(
        row.executor_id
        for row in fleet.query("SELECT executor_id FROM dbos.workflow_status WHERE queue_name = :q", q=QUEUE)
    )
    assert set(ran_on) == {"a", "b"}, ran_on
    assert sum(ran_on.values()) == 24, ran_on


def test_two_api_processes_open_one_incident_per_key_in_an_alert_storm(tmp_path: Path, database_url: str) -> None:
    """400 Alertmanager webhooks over 20 fingerprints, shuffled over two `serve --no-engine` processes at once."""
    fleet = Fleet.create(tmp_path, database_url)
    keys = [f"fp-{n:02d}" for n in range(20)]
    posts = [key for key in keys for _ in range(20)]
    random.Random(9).shuffle(posts)
    with fleet.api() as first, fleet.api() as second:
        targets = [first.url, second.url]
        headers = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"}

        def post(index: int, client: httpx.Client) -> dict[str, Any]:
            key = posts[index]
            alert = {"status": "firing", "labels": {"alertname": "FleetBroken", "n": key}, "fingerprint": key}
            body = {"version": "4", "status": "firing", "groupKey": "storm", "alerts": [alert]}
            answer = client.post(f"{targets[index % 2]}/api/v1/alerts/alertmanager", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: post(i, client), range(len(posts))))

    opened = Counter(incident for answer in answers for incident in answer["opened"])
    joined = Counter(incident for answer in answers for incident in answer["joined"])
    assert len(opened) == 20
    assert set(opened.values()) == {1}
    assert set(joined) == set(opened)
    assert sum(joined.values()) == 380
    rows = fleet.query("SELECT id, dedup_key, joins FROM handrail_incidents")
    assert sorted(row.dedup_key for row in rows) == sorted(f"fleet|{key}" for key in keys)
    assert sum(row.joins for row in rows) == 380
    assert fleet.query("SELECT count(*) AS n FROM handrail_timeline WHERE kind = 'joined'")[0].n == 380
