"""PostgreSQL restarted under load: the API and two workers reconnect and carry on; nothing is lost.

The database is a throwaway cluster of its own (handrail.demo.postgres), never the machine's shared
server. It goes down (`pg_ctl stop -m fast`: every session is terminated, statements in flight fail)
for longer than the takeover bound, while incidents are being triggered and worked, and comes back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from handrail.demo.postgres import ThrowawayPostgres
from support.fleet import FLEET_TOKEN, Fleet

INCIDENTS = 80
DOWN_SECONDS = 5.0
TAKEOVER_AFTER = 3.0


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as server:
        yield server


def test_a_postgres_restart_under_load_loses_nothing(tmp_path: Path, postgres: ThrowawayPostgres) -> None:
    postgres.create_database("drill")
    fleet = Fleet.create(tmp_path, postgres.conninfo("drill"), action_delay=0.5, takeover_after=TAKEOVER_AFTER)
    accepted: dict[int, str] = {}
    refused: Counter[str] = Counter()

    def trigger_all(url: str) -> None:
        """Like Alertmanager: each incident is sent until the API accepts it."""
        headers = {"Authorization": f"Bearer {FLEET_TOKEN}"}
        with httpx.Client(timeout=30) as client:
            for n in range(INCIDENTS):
                body = {"runbookId": "fleet", "context": {"labels": {"n": str(n)}}}
                while n not in accepted:
                    try:
                        answer = client.post(f"{url}/api/v1/incidents", json=body, headers=headers)
                    except httpx.HTTPError as exc:
                        refused[type(exc).__name__] += 1
                        time.sleep(0.5)
                        continue
                    if answer.status_code == 202:
                        accepted[n] = answer.json()["incident"]["id"]
                    else:
                        refused[str(answer.status_code)] += 1
                        time.sleep(0.5)
                time.sleep(0.05)

    with fleet.api() as api, fleet.worker("a") as a, fleet.worker("b") as b:
        sender = threading.Thread(target=trigger_all, args=(api.url,))
        sender.start()
        deadline = time.monotonic() + 60
        while len(fleet.effects().starts) < 10:
            assert time.monotonic() < deadline, a.log() + b.log()
            time.sleep(0.05)
        triggered_before = len(accepted)
        postgres.stop("fast")
        time.sleep(DOWN_SECONDS)
        postgres.start()
        sender.join(timeout=120)
        assert not sender.is_alive(), f"the API never took every incident back: {refused}\n{api.log()}"
        assert triggered_before < INCIDENTS, "the restart came after the last trigger: it tested nothing"
        states = fleet.wait_closed(list(accepted.values()), timeout=120, logs=lambda: a.log() + b.log())
        for worker in (a, b):
            assert worker.process is not None
            assert worker.process.poll() is None, worker.log()
        assert httpx.get(f"{api.url}/readyz", timeout=5).status_code == 200

    assert set(states.values()) == {"resolved"}, Counter(states.values())
    runs = fleet.query("SELECT key, status FROM handrail_action_runs")
    assert len(runs) == INCIDENTS
    assert {run.status for run in runs} == {"succeeded"}
    effects = fleet.effects()
    assert {(effects.starts[run.key], effects.ends[run.key]) for run in runs} == {(1, 1)}
    assert sum(effects.starts.values()) == INCIDENTS
    # the outage outlasted the takeover bound, yet no live worker was taken for dead
    assert fleet.query("SELECT count(*) AS n FROM handrail_timeline WHERE kind = 'takeover'")[0].n == 0
    # both stopped cleanly at the end and said so (heartbeat 0: take me over now); `b` stopped first, so `a`
    # may already have taken it over
    for worker in (a, b):
        assert worker.process is not None
        assert worker.process.returncode == 0, worker.log()
    rows = fleet.query("SELECT executor_id, heartbeat_ms FROM handrail_workers ORDER BY executor_id")
    assert [(row.executor_id, row.heartbeat_ms) for row in rows] in ([("a", 0)], [("a", 0), ("b", 0)])
