"""run_script against real subprocesses, a real PostgreSQL database of its own, SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from handrail.actions.base import ActionContext, ActionOutcome
from handrail.actions.run_script import RunScriptAction, RunScriptParams
from handrail.errors import ActionError
from handrail.sql import DatabaseConnection
from support.processes import ESCAPE, live_members, wait_for_lines, wait_until_gone

pytestmark = [
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306
MARIADB_URL = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/test"


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def params(**config: Any) -> RunScriptParams:
    return RunScriptParams.model_validate(config)


def context(timeout: float = 10.0, **labels: str) -> ActionContext:
    return ActionContext(
        incident_id="inc-42",
        idempotency_key="inc-42:kill_idle:1",
        template={"labels": labels, "annotations": {}},
        timeout=timeout,
    )


def connection(url: str, statement_timeout: float = 10.0) -> DatabaseConnection:
    return DatabaseConnection.model_validate({"url": url, "statementTimeout": statement_timeout})


@pytest.fixture
async def action_for() -> AsyncIterator[Any]:
    """`action_for(**urls)`: an action whose database connections are `urls`; closed afterwards."""
    actions: list[RunScriptAction] = []

    def build(**urls: str) -> RunScriptAction:
        action = RunScriptAction({name: connection(url) for name, url in urls.items()}, kill_grace=0.5)
        actions.append(action)
        return action

    yield build
    for action in actions:
        await action.aclose()


async def run(action: RunScriptAction, ctx: ActionContext | None = None, **config: Any) -> ActionOutcome:
    return await action.execute(params(**config), ctx or context())


# -- shell and command --------------------------------------------------------------------


async def test_run_script_action_runs_a_shell_script_with_label_values_and_incident_ids(action_for: Any) -> None:
    script = 'printf "%s|%s|%s\\n" {{ labels.service }} "$HANDRAIL_INCIDENT_ID" "$HANDRAIL_IDEMPOTENCY_KEY"'
    outcome = await run(action_for(), context(service="payments"), shell=script)
    assert outcome == ActionOutcome(True, "exit 0", "payments|inc-42|inc-42:kill_idle:1\n")


async def test_run_script_action_runs_an_argv_command_without_a_shell(action_for: Any) -> None:
    outcome = await run(action_for(), context(v="$HOME; echo no"), command=["printf", "%s\\n", "{{ labels.v }}"])
    assert outcome == ActionOutcome(True, "exit 0", "$HOME; echo no\n")


async def test_run_script_action_reports_a_non_zero_exit_with_the_last_stderr_line(action_for: Any) -> None:
    outcome = await run(action_for(), shell="echo draining; echo 'warming up' >&2; echo 'drain refused' >&2; exit 4")
    assert outcome.ok is False
    assert outcome.message == "exit 4; stderr: drain refused"
    assert outcome.output == "draining\n--- stderr ---\nwarming up\ndrain refused\n"


async def test_run_script_action_output_is_stderr_alone_when_stdout_is_empty(action_for: Any) -> None:
    outcome = await run(action_for(), shell="echo 'nothing to drain' >&2")
    assert outcome == ActionOutcome(True, "exit 0", "nothing to drain\n")


async def test_run_script_action_reports_death_by_signal(action_for: Any) -> None:
    outcome = await run(action_for(), shell="kill -KILL $$")
    assert (outcome.ok, outcome.message) == (False, "killed by SIGKILL")


async def test_run_script_action_caps_output(action_for: Any) -> None:
    action = RunScriptAction({}, max_output=100)
    outcome = await run(action, shell="yes | head -c 100000")
    assert outcome.ok
    assert outcome.output.endswith("… [output cut at 100 bytes; 100000 bytes in all]\n")
    assert len(outcome.output) < 200


@pytest.mark.parametrize(
    ("config_timeout", "step_timeout"),
    [pytest.param("500ms", 10.0, id="its-own-timeout"), pytest.param("60s", 0.5, id="the-step-timeout")],
)
async def test_run_script_action_kills_the_process_group_on_timeout(
    action_for: Any, tmp_path: Path, config_timeout: str, step_timeout: float
) -> None:
    pids = tmp_path / "pids"
    script = f"echo started; echo $$ > {pids}; sleep 60 & echo $! >> {pids}; sleep 60 & echo $! >> {pids}; wait"
    outcome = await run(action_for(), context(timeout=step_timeout), shell=script, timeout=config_timeout)
    assert outcome == ActionOutcome(False, "timed out after 0.5s (process group killed)", "started\n")
    pgid, *_ = await wait_for_lines(pids, 3)
    assert live_members(pgid) == []


@pytest.mark.parametrize("way_out", ["exit", "timeout"])
@pytest.mark.parametrize("form", ["shell", "command"])
async def test_run_script_action_ends_a_descendant_that_left_the_process_group(
    action_for: Any, tmp_path: Path, way_out: str, form: str
) -> None:
    pids, touched = tmp_path / "pids", tmp_path / "touched"
    script = ESCAPE.format(touched=touched, pids=pids) + ("echo done" if way_out == "exit" else "sleep 60")
    config = {"shell": script} if form == "shell" else {"command": ["/bin/sh", "-c", script]}
    outcome = await run(action_for(), **config, timeout="1s")
    assert outcome.ok is (way_out == "exit")
    (escaped,) = await wait_for_lines(pids, 1)
    await wait_until_gone(escaped)
    assert not touched.exists()


HOSTILE = [
    pytest.param("; touch {marker}", id="semicolon"),
    pytest.param("$(touch {marker})", id="command-substitution"),
    pytest.param("`touch {marker}`", id="backticks"),
    pytest.param('"; touch {marker}; echo "', id="double-quote"),
    pytest.param("' OR 1=1 -- ; touch {marker}", id="sql-quote"),
    pytest.param("x\ntouch {marker}", id="newline"),
]


@pytest.mark.parametrize("template", HOSTILE)
@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"shell": "printf '%s\\n' {{ labels.v }}"}, id="shell-bare"),
        pytest.param({"shell": 'printf "%s\\n" "{{ labels.v }}"'}, id="shell-in-double-quotes"),
        pytest.param({"command": ["printf", "%s\\n", "{{ labels.v }}"]}, id="argv"),
    ],
)
async def test_run_script_action_passes_hostile_labels_as_data(
    action_for: Any, tmp_path: Path, template: str, config: dict[str, Any]
) -> None:
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    outcome = await run(action_for(), context(v=value), **config)
    assert outcome == ActionOutcome(True, "exit 0", f"{value}\n")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("config", "error"),
    [
        pytest.param({"command": ["no-such-tool-hr"]}, "cannot start 'no-such-tool-hr': No such file", id="not-found"),
        pytest.param({"shell": "echo '{{ labels.v }}'"}, "shell: .*single quotes", id="single-quotes"),
        pytest.param({"command": ["echo", "{{ labels.missing }}"]}, "command: .*no value", id="missing-label"),
        pytest.param({"command": ["echo", "{{ labels.nul }}"]}, "NUL byte", id="nul"),
    ],
)
async def test_run_script_action_raises_when_the_command_cannot_start(
    action_for: Any, config: dict[str, Any], error: str
) -> None:
    with pytest.raises(ActionError, match=error):
        await run(action_for(), context(v="x", nul="a\0b"), **config)


def test_run_script_action_describes_a_shell_script_with_its_values() -> None:
    text = RunScriptAction({}).describe(
        params(shell="kubectl -n {{ labels.ns }} rollout restart deploy/{{ labels.app }}"),
        context(ns="prod", app="$(id) it's"),
    )
    assert text == (
        """/bin/sh -c 'kubectl -n "${HANDRAIL_V1}" rollout restart deploy/"${HANDRAIL_V2}"'\n"""
        "HANDRAIL_V1=prod\n"
        """HANDRAIL_V2='$(id) it'"'"'s'"""
    )


def test_run_script_action_describes_an_argv_command() -> None:
    text = RunScriptAction({}).describe(params(command=["cmctl", "renew", "{{ labels.cert }}"]), context(cert="a b"))
    assert text == "cmctl renew 'a b'"


# -- SQL on PostgreSQL --------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A database of its own (`handrail_action_test_<random>`) with a `jobs` table; its URL. Dropped afterwards."""
    name = f"handrail_action_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(url) as db:
            db.execute("CREATE TABLE jobs (id int PRIMARY KEY, kind text, status text)")
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def jobs(pg_database: str) -> str:
    """`jobs` with three fresh rows: two `email` jobs and one `sms` job, all `queued`."""
    with psycopg.connect(pg_database) as db:
        db.execute("DELETE FROM jobs")
        db.execute("INSERT INTO jobs VALUES (1, 'email', 'queued'), (2, 'email', 'queued'), (3, 'sms', 'queued')")
    return pg_database


def statuses(url: str) -> list[str]:
    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute("SELECT status FROM jobs ORDER BY id")]


async def test_run_script_action_kills_idle_connections_with_the_reference_sql(
    action_for: Any, pg_database: str
) -> None:
    database = pg_database.rsplit("/", 1)[1]
    idle = [psycopg.connect(pg_database) for _ in range(2)]
    try:
        for db in idle:
            db.execute("SELECT 1").fetchone()
            db.commit()  # idle, not idle in transaction
        # the reference runbook's statement (examples/runbooks/payment-service-slow.yaml), for this database,
        # with a zero interval so the fresh connections count as old enough
        sql = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity\n"
            f"WHERE state = 'idle' AND state_change < NOW() - INTERVAL '0 seconds' AND datname = '{database}'"
            " AND pid <> pg_backend_pid()"
        )
        outcome = await run(action_for(payments=pg_database), sql=sql, database="payments")
        assert outcome.ok
        assert outcome.message == "SELECT: 2 rows; 2 backends terminated"
        assert outcome.output == "pg_terminate_backend\n--------------------\ntrue\ntrue\n(2 rows)\n"
        for db in idle:
            with pytest.raises(psycopg.OperationalError):
                db.execute("SELECT 1")
    finally:
        for db in idle:
            db.close()


async def test_run_script_action_commits_an_update_and_reports_rows_affected(action_for: Any, jobs: str) -> None:
    sql = "UPDATE jobs SET status = 'cancelled' WHERE kind = {{ labels.kind }}"
    outcome = await run(action_for(main=jobs), context(kind="email"), sql=sql, database="main")
    assert outcome == ActionOutcome(True, "UPDATE: 2 rows affected")
    assert statuses(jobs) == ["cancelled", "cancelled", "queued"]


@pytest.mark.parametrize(
    "value", ["' OR 1=1 --", "email' OR '1'='1", "x'; UPDATE jobs SET status = 'pwned'; --", "$(id)", "`id`"]
)
async def test_run_script_action_binds_hostile_labels_in_sql(action_for: Any, jobs: str, value: str) -> None:
    action = action_for(main=jobs)
    update = "UPDATE jobs SET status = 'cancelled' WHERE kind = {{ labels.v }}"
    outcome = await run(action, context(v=value), sql=update, database="main")
    assert outcome == ActionOutcome(True, "UPDATE: 0 rows affected")
    echoed = await run(action, context(v=value), sql="SELECT {{ labels.v }} AS v", database="main")
    assert echoed.message == "SELECT: 1 row"
    assert echoed.output.splitlines()[2] == value
    assert statuses(jobs) == ["queued", "queued", "queued"]


async def test_run_script_action_rolls_back_when_the_sql_fails(action_for: Any, jobs: str) -> None:
    sql = "UPDATE jobs SET status = 'done'; SELECT 1 / 0"
    outcome = await run(action_for(main=jobs), sql=sql, database="main")
    assert outcome.ok is False
    assert outcome.message.endswith("division by zero")
    assert statuses(jobs) == ["queued", "queued", "queued"]


async def test_run_script_action_shows_the_first_rows_as_a_table(action_for: Any, pg_database: str) -> None:
    sql = (
        "SELECT i, CASE WHEN i = 1 THEN NULL ELSE jsonb_build_object('n', i) END AS meta, i % 2 = 0 AS even"
        " FROM generate_series(1, 25) AS i"
    )
    outcome = await run(action_for(main=pg_database), sql=sql, database="main")
    assert outcome.message == "SELECT: 25 rows"
    lines = outcome.output.splitlines()
    assert lines[:4] == [
        "i  | meta      | even",
        "---+-----------+------",
        "1  | null      | false",
        '2  | {"n": 2}  | true',
    ]
    assert len(lines) == 2 + 20 + 1
    assert lines[-1] == "(first 20 of 25 rows)"


async def test_run_script_action_counts_true_values_of_a_boolean_column(action_for: Any, pg_database: str) -> None:
    sql = "SELECT i > 1 AS started FROM generate_series(1, 3) AS i"
    outcome = await run(action_for(main=pg_database), sql=sql, database="main")
    assert outcome.message == "SELECT: 3 rows; 2 true"


async def test_run_script_action_reports_a_statement_without_rows(action_for: Any, pg_database: str) -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    action = action_for(main=pg_database)
    sql = f"-- a scratch table\nCREATE TABLE {table} (id int)"
    assert await run(action, sql=sql, database="main") == ActionOutcome(True, "CREATE: done")
    assert await run(action, sql=f"DROP TABLE {table}", database="main") == ActionOutcome(True, "DROP: done")


async def test_run_script_action_stops_a_slow_statement_and_rolls_back(action_for: Any, jobs: str) -> None:
    started = time.monotonic()
    sql = "UPDATE jobs SET status = 'done'; SELECT pg_sleep(20)"
    outcome = await run(action_for(main=jobs), sql=sql, database="main", timeout="1s")
    assert time.monotonic() - started < 5
    assert outcome.ok is False
    assert "canceling statement due to statement timeout" in outcome.message
    assert statuses(jobs) == ["queued", "queued", "queued"]


async def test_run_script_action_reports_a_sql_error_without_the_password(action_for: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    action = action_for(main=f"postgresql://postgres:s3cret-Pa55@127.0.0.1:{port}/test")
    with pytest.raises(ActionError, match=r"postgresql://postgres:\*\*\*@127.0.0.1") as caught:
        await run(action, sql="SELECT 1", database="main")
    assert "s3cret" not in str(caught.value)


async def test_run_script_action_raises_for_an_unknown_database(action_for: Any) -> None:
    action = action_for(main=POSTGRES_ADMIN)
    config = params(sql="SELECT 1", database="payments")
    with pytest.raises(ActionError, match=r"no database connection 'payments' .*known: 'main'"):
        action.describe(config, context())
    with pytest.raises(ActionError, match="no database connection 'payments'"):
        await action.execute(config, context())


async def test_run_script_action_refuses_a_label_inside_a_sql_literal(action_for: Any) -> None:
    with pytest.raises(ActionError, match=r"sql: .*inside a quoted string"):
        await run(action_for(main=POSTGRES_ADMIN), context(v="x"), sql="SELECT '{{ labels.v }}'", database="main")


def test_run_script_action_describes_sql_with_its_bind_values() -> None:
    action = RunScriptAction({"payments": connection("postgresql://app:s3cret@db/payments")})
    text = action.describe(
        params(
            sql="SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {{ labels.db }}"
            " AND application_name = {{ labels.app }}",
            database="payments",
        ),
        context(db="pay'ments", app="a\nb"),
    )
    assert text == (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :hr_p1 AND application_name = :hr_p2\n"
        "-- :hr_p1 = 'pay''ments'\n"
        "-- :hr_p2 = 'a\\nb'\n"
        "-- on database payments"
    )
    assert "s3cret" not in text


# -- SQL on SQLite and MariaDB ------------------------------------------------------------


@pytest.fixture
def sqlite_jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id int PRIMARY KEY, kind text, status text)")
        db.execute("INSERT INTO jobs VALUES (1, 'email', 'queued'), (2, 'sms', 'queued')")
    return path


async def test_run_script_action_commits_on_sqlite_and_never_creates_a_file(
    action_for: Any, sqlite_jobs: Path, tmp_path: Path
) -> None:
    action = action_for(main=f"sqlite:///{sqlite_jobs}", missing=f"sqlite:///{tmp_path / 'missing.db'}")
    outcome = await run(
        action, context(kind="sms"), sql="DELETE FROM jobs WHERE kind = {{ labels.kind }}", database="main"
    )
    assert outcome == ActionOutcome(True, "DELETE: 1 row affected")
    with sqlite3.connect(sqlite_jobs) as db:
        assert db.execute("SELECT kind FROM jobs").fetchall() == [("email",)]
    with pytest.raises(ActionError, match="unable to open database file"):
        await run(action, sql="SELECT 1", database="missing")
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("way_out", ["timeout", "cancelled"])
async def test_run_script_action_never_commits_what_finishes_after_it_gave_up(sqlite_jobs: Path, way_out: str) -> None:
    # another connection holds the write lock past the deadline (or the cancellation); the UPDATE waits
    # (busy timeout) and only gets to run after the action has given up, so it must not be committed
    action = RunScriptAction({"main": connection(f"sqlite:///{sqlite_jobs}", statement_timeout=5)})
    config = params(
        sql="UPDATE jobs SET status = 'done'", database="main", timeout="300ms" if way_out == "timeout" else 20
    )
    blocker = sqlite3.connect(sqlite_jobs, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        if way_out == "timeout":
            outcome = await action.execute(config, context())
            assert outcome.ok is False
            assert outcome.message.endswith("timed out after 0.3s; nothing was committed")
        else:
            task = asyncio.create_task(action.execute(config, context()))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        blocker.execute("COMMIT")  # now the abandoned UPDATE gets the lock and runs
        await action.aclose()
        # the worker thread is the default executor's: once that has shut down, the worker has finished
        await asyncio.get_running_loop().shutdown_default_executor()
        assert blocker.execute("SELECT status FROM jobs ORDER BY id").fetchall() == [("queued",), ("queued",)]
    finally:
        blocker.close()


async def test_run_script_action_stops_a_slow_sqlite_statement(action_for: Any, sqlite_jobs: Path) -> None:
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    outcome = await run(action_for(main=f"sqlite:///{sqlite_jobs}"), sql=sql, database="main", timeout="500ms")
    assert outcome.ok is False
    assert outcome.message.endswith("ran longer than the statement timeout of 0.45s")


async def test_run_script_action_raises_for_an_unsupported_database(action_for: Any) -> None:
    with pytest.raises(ActionError, match="oracle is not supported"):
        await run(action_for(main="oracle://scott:tiger@db/orcl"), sql="SELECT 1 FROM dual", database="main")


mariadb = pytest.mark.skipif(
    not listening(MARIADB_HOST, MARIADB_PORT), reason=f"nothing listens on {MARIADB_HOST}:{MARIADB_PORT} (MariaDB)"
)


@mariadb
async def test_run_script_action_commits_and_stops_slow_statements_on_mariadb(action_for: Any) -> None:
    table = f"hr_action_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", database="test", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, status text)")
            cursor.execute(f"INSERT INTO {table} VALUES (1, 'queued'), (2, 'queued')")
        action = action_for(main=MARIADB_URL)
        outcome = await run(
            action,
            context(id="2"),
            sql=f"UPDATE {table} SET status = 'done' WHERE id = {{{{ labels.id }}}}",
            database="main",
        )
        assert outcome == ActionOutcome(True, "UPDATE: 1 row affected")
        slow = await run(
            action, sql=f"UPDATE {table} SET status = 'x' WHERE SLEEP(5) = 0", database="main", timeout="1s"
        )
        assert slow.ok is False
        assert "max_statement_time" in slow.message
        with admin.cursor() as cursor:
            cursor.execute(f"SELECT status FROM {table} ORDER BY id")
            assert cursor.fetchall() == (("queued",), ("done",))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        admin.close()
