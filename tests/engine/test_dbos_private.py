"""`dbos_private`: the one private DBOS call Handrail makes still exists, and still recovers a dead executor.

The recovery runs a small real DBOS on SQLite in two processes: a worker that dies inside a queued
workflow, then a live one that recovers the dead executor's workflows and runs it to the end.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from dbos import DBOS

from handrail.engine.dbos_private import RECOVER_PARAMETERS, recover_pending_workflows

PROCESS = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    from dbos import DBOS

    from handrail.engine.dbos_private import recover_pending_workflows

    role, folder = sys.argv[1], Path(sys.argv[2])
    @DBOS.step()
    def first_step() -> None:
        (folder / f"first-step-{role}").touch()

    @DBOS.workflow()
    def held() -> str:
        first_step()
        if role == "dead":
            os._exit(0)  # the worker dies mid-workflow: it stays PENDING under executor "dead"
        return f"finished by {role}"

    DBOS(config={"name": "handrail-test", "system_database_url": f"sqlite:///{folder / 'dbos.db'}",
                 "log_level": "WARNING", "executor_id": role})
    DBOS.launch()
    DBOS.register_queue("handrail-test", polling_interval_sec=0.1)
    if role == "dead":
        DBOS.retrieve_queue("handrail-test").enqueue(held).get_result()
    else:
        recovered = recover_pending_workflows("dead")
        again = recover_pending_workflows("dead")
        results = [DBOS.retrieve_workflow(workflow_id).get_result() for workflow_id in recovered]
        print(json.dumps({"recovered": recovered, "again": again, "results": results}))
        DBOS.destroy(workflow_completion_timeout_sec=0)
    """
)


def test_dbos_private_recover_keeps_the_signature_handrail_calls() -> None:
    parameters = tuple(inspect.signature(DBOS._recover_pending_workflows).parameters)
    assert parameters[: len(RECOVER_PARAMETERS)] == RECOVER_PARAMETERS


def test_dbos_private_recover_puts_a_dead_executors_workflow_back_for_a_live_worker(tmp_path: Path) -> None:
    script = tmp_path / "process.py"
    script.write_text(PROCESS)
    env = {**os.environ, "DBOS__APPVERSION": "handrail-test"}

    def run(role: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), role, str(tmp_path)], env=env, capture_output=True, text=True, timeout=60
        )

    dead = run("dead")
    assert dead.returncode == 0, dead.stderr
    assert (tmp_path / "first-step-dead").exists()

    live = run("live")
    assert live.returncode == 0, live.stderr
    outcome = json.loads(live.stdout.strip().splitlines()[-1])
    assert len(outcome["recovered"]) == 1
    assert outcome["again"] == [], "a second recovery found the workflow pending under the dead executor again"
    assert outcome["results"] == ["finished by live"]
    assert not (tmp_path / "first-step-live").exists(), "the completed step ran again"


def test_dbos_private_recover_is_what_the_worker_uses() -> None:
    from handrail.engine import worker

    assert worker.recover_pending_workflows is recover_pending_workflows


def test_no_module_but_dbos_private_reaches_into_dbos_private_api() -> None:
    source = Path(recover_pending_workflows.__code__.co_filename).parents[1]
    strays = [
        f"{path.relative_to(source)}:{number}: {line.strip()}"
        for path in sorted(source.rglob("*.py"))
        if path.name != "dbos_private.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(DBOS|dbos)\._[a-z]|from dbos\._|import dbos\._", line)
    ]
    assert not strays, "\n".join(strays)
