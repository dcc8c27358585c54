"""Processes starting together on a fresh database migrate it once, and none fails (#13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from handrail.store import SqlIncidentStore, create_engine
from handrail.store.migration import LOCK_SUFFIX
from support.engine import postgres_database
from support.prometheus import free_port

MIGRATIONS = Path(__file__).parents[2] / "src" / "handrail" / "store" / "migrations" / "versions"
HEAD = max(path.name[:4] for path in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
"""The newest of our migrations: every process must end with the database at exactly this one."""

RUNBOOK = """\
id: quiet
name: Quiet
description: nothing to see
severity: P4
service: quiet
triggers: [{type: manual}]
diagnostics:
  - id: state
    name: State
    description: always fine
    type: shell_command
    config: {command: "echo ok"}
    interpret: {healthy: "lines[0] == 'ok'"}
decisionTree:
  - otherwise: true
    then: [page]
    description: anything
remediations:
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#quiet"
"""

# what each kind of process prints once it has prepared the database and is serving
READY = {"worker": "handrail worker: ready", "serve": "handrail serve: listening on"}


@contextmanager
def sqlite_database(root: Path) -> Iterator[str]:
    yield f"sqlite:///{root / 'handrail.db'}"


def start_together(root: Path, url: str) -> list[str]:
    """Start workers, API servers and CLI commands at once on `url`; the log of each one that failed."""
    (root / "runbooks").mkdir()
    (root / "runbooks" / "quiet.yaml").write_text(RUNBOOK)
    config = root / "handrail.yaml"
    config.write_text(f"runbooks: runbooks\ndatabase: '{url}'\nnotifiers:\n  log: true\n")
    commands = [
        ["worker"],
        ["worker"],
        ["serve", "--no-engine", "--port", str(free_port())],
        ["trigger", "quiet", "--label", "n=1"],
        ["trigger", "quiet", "--label", "n=2"],
        ["incidents", "list"],
    ]
    started = []
    for number, args in enumerate(commands):
        log = root / f"{number}-{args[0]}.log"
        with log.open("wb") as out:
            command = [sys.executable, "-m", "handrail", *args, "--config", str(config)]
            started.append((args[0], log, subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)))
    failed = []
    for kind, log, process in started:
        try:
            if kind in READY:
                deadline = time.monotonic() + 60
                while READY[kind] not in log.read_text(errors="replace"):
                    if process.poll() is not None or time.monotonic() > deadline:
                        failed.append(f"{kind}:\n{log.read_text(errors='replace')}")
                        break
                    time.sleep(0.1)
                else:
                    os.killpg(process.pid, signal.SIGKILL)  # ready is all this test asks of it
            elif process.wait(timeout=60) != 0:
                failed.append(f"{kind} exited {process.returncode}:\n{log.read_text(errors='replace')}")
        finally:
            if process.poll() is None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
    return failed


def version_rows(url: str) -> tuple[list[str], list[int]]:
    """Rows of our version table and of DBOS's."""
    engine = create_engine(url)
    dbos = "dbos.dbos_migrations" if engine.dialect.name == "postgresql" else "dbos_migrations"
    try:
        with engine.connect() as connection:
            ours = list(connection.execute(sa.text("SELECT version_num FROM handrail_alembic_version")).scalars())
            theirs = list(connection.execute(sa.text(f"SELECT version FROM {dbos}")).scalars())
    finally:
        engine.dispose()
    return ours, theirs


@pytest.mark.timeout(300)  # two rounds of six Python processes starting at once on a shared 2-core machine
@pytest.mark.parametrize(
    "database", [pytest.param(sqlite_database, id="sqlite"), pytest.param(postgres_database, id="postgres")]
)
def test_workers_servers_and_commands_starting_together_on_a_fresh_database_all_start(
    tmp_path: Path, database: object
) -> None:
    for round_number in range(2):
        root = tmp_path / f"round-{round_number}"
        root.mkdir()
        with sqlite_database(root) if database is sqlite_database else postgres_database("handrail_start") as url:
            failed = start_together(root, url)
            assert not failed, "\n\n".join(failed)
            ours, theirs = version_rows(url)
        assert ours == [HEAD]
        assert len(theirs) == 1


def test_stores_migrating_together_on_a_fresh_sqlite_database_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handrail.db'}"
    stores = [SqlIncidentStore(create_engine(url)) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda store: store.migrate(), stores))
    with stores[0].engine.connect() as connection:
        versions = list(connection.execute(sa.text("SELECT version_num FROM handrail_alembic_version")).scalars())
    for store in stores:
        store.engine.dispose()
    assert versions == [HEAD]
    assert (tmp_path / f"handrail.db{LOCK_SUFFIX}").exists()


def test_an_in_memory_sqlite_database_migrates_without_a_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqlIncidentStore(create_engine("sqlite://"))
    store.migrate()
    assert list(tmp_path.iterdir()) == []
