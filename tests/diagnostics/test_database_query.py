"""database_query against real PostgreSQL, SQLite and MariaDB: values, read-only, timeouts, binds."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from handrail.diagnostics import database_query
from handrail.diagnostics.base import ProbeContext
from handrail.diagnostics.database_query import DatabaseQueryParams, DatabaseQueryProbe
from handrail.errors import ProbeError
from handrail.sql import DatabaseConnection

pytestmark = pytest.mark.timeout(30)

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306
MARIADB_URL = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/test"
PASSWORD = "s3cret-Pa55word"


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection(url: str, statement_timeout: float = 10.0) -> DatabaseConnection:
    return DatabaseConnection.model_validate({"url": url, "statementTimeout": statement_timeout})


def params(query: str, database: str = "default", **config: Any) -> DatabaseQueryParams:
    return DatabaseQueryParams.model_validate({"query": query, "database": database, **config})


def context(timeout: float = 10.0, **labels: str) -> ProbeContext:
    return ProbeContext(template={"labels": labels, "annotations": {}}, timeout=timeout)


@pytest.fixture
async def probe_for() -> AsyncIterator[Any]:
    """`probe_for(url, statement_timeout)`: a probe whose `default` connection is `url`; closed afterwards."""
    probes: list[DatabaseQueryProbe] = []

    def build(url: str, statement_timeout: float = 10.0) -> DatabaseQueryProbe:
        probe = DatabaseQueryProbe({"default": connection(url, statement_timeout)})
        probes.append(probe)
        return probe

    yield build
    for probe in probes:
        await probe.aclose()


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_table() -> Iterator[str]:
    """`<schema>.orders` with three rows, in a schema of its own that is dropped afterwards."""
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"hr_test_{uuid.uuid4().hex[:12]}"
    table = f"{schema}.orders"
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE SCHEMA {schema}")
        db.exec_driver_sql(
            f"CREATE TABLE {table} (id int PRIMARY KEY, customer text, amount numeric(10, 2),"
            " created timestamptz, payload bytea, ref uuid, meta jsonb, note text, paid boolean)"
        )
        db.exec_driver_sql(f"CREATE SEQUENCE {schema}.ids")
        db.exec_driver_sql(
            f"INSERT INTO {table} VALUES"
            " (1, 'alice', 12.50, '2026-11-26 14:03:01.5+00', '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
            ' \'{"tier": "gold", "tags": [1, 2]}\', NULL, true),'
            " (2, 'bob', 3.00, '2026-11-25 08:00:00+00', '\\x', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',"
            " '{}', 'x', false),"
            " (3, 'carol', 0.10, '2026-11-24 23:59:59+00', NULL, NULL, NULL, NULL, NULL)"
        )
    yield table
    with engine.begin() as db:
        db.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


def pg_scalar(sql: str) -> Any:
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as db:
            return db.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


async def test_database_query_probe_returns_postgres_rows_as_plain_values(probe_for: Any, pg_table: str) -> None:
    probe = probe_for(POSTGRES_URL)
    observation = await probe.observe(params(f"SELECT * FROM {pg_table} ORDER BY id"), context())
    values = observation.values
    assert set(values) == set(DatabaseQueryParams.PROVIDES)
    assert values["columns"] == ["id", "customer", "amount", "created", "payload", "ref", "meta", "note", "paid"]
    assert values["row_count"] == 3
    assert values["value"] == 1
    assert values["rows"][0] == {
        "id": 1,
        "customer": "alice",
        "amount": 12.5,
        "created": "2026-11-26T14:03:01.500000+00:00",
        "payload": "00ff",
        "ref": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "meta": {"tier": "gold", "tags": [1, 2]},
        "note": None,
        "paid": True,
    }
    assert values["rows"][1]["payload"] == ""
    assert values["rows"][2]["amount"] == 0.1
    assert observation.message == "3 rows"


async def test_database_query_probe_reports_a_single_value_in_the_message(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL)
    observation = await probe.observe(params("SELECT count(*) AS n FROM generate_series(1, 7)"), context())
    assert observation.values == {"rows": [{"n": 7}], "row_count": 1, "columns": ["n"], "value": 7}
    assert observation.message == "1 row; value 7"


async def test_database_query_probe_returns_no_rows_with_value_null(probe_for: Any, pg_table: str) -> None:
    probe = probe_for(POSTGRES_URL)
    observation = await probe.observe(params(f"SELECT id FROM {pg_table} WHERE false"), context())
    assert observation.values == {"rows": [], "row_count": 0, "columns": ["id"], "value": None}
    assert observation.message == "no rows"


@pytest.mark.parametrize(
    ("max_rows", "count", "message"),
    [
        pytest.param(10, 10, "10 rows (cut at maxRows)", id="cut"),
        pytest.param(50, 50, "50 rows", id="exactly"),
        pytest.param(80, 50, "50 rows", id="under"),
    ],
)
async def test_database_query_probe_caps_rows_at_max_rows(
    probe_for: Any, max_rows: int, count: int, message: str
) -> None:
    probe = probe_for(POSTGRES_URL)
    query = "SELECT n FROM generate_series(1, 50) AS n"
    observation = await probe.observe(params(query, maxRows=max_rows), context())
    assert observation.values["row_count"] == count
    assert [row["n"] for row in observation.values["rows"]] == list(range(1, count + 1))
    assert observation.message == message


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE {table} SET customer = 'mallory' WHERE id = 1", id="update"),
        pytest.param("INSERT INTO {table} (id, customer) VALUES (99, 'mallory')", id="insert"),
        pytest.param("DELETE FROM {table} WHERE id = 1", id="delete"),
        pytest.param("SELECT * FROM {table} WHERE id = 1 FOR UPDATE", id="select-for-update"),
        pytest.param("WITH gone AS (DELETE FROM {table} RETURNING id) SELECT count(*) FROM gone", id="cte-delete"),
        pytest.param("CREATE TABLE {table}_copy AS SELECT * FROM {table}", id="create-table"),
        pytest.param("TRUNCATE {table}", id="truncate"),
        pytest.param("SELECT nextval('{schema}.ids')", id="nextval"),
    ],
)
async def test_database_query_probe_refuses_writes_on_postgres(probe_for: Any, pg_table: str, statement: str) -> None:
    probe = probe_for(POSTGRES_URL)
    sql = statement.format(table=pg_table, schema=pg_table.split(".")[0])
    with pytest.raises(ProbeError, match=r"read-only transaction|is not a read"):
        await probe.observe(params(sql), context())
    assert pg_scalar(f"SELECT count(*) FROM {pg_table}") == 3
    assert pg_scalar(f"SELECT customer FROM {pg_table} WHERE id = 1") == "alice"
    assert pg_scalar(f"SELECT to_regclass('{pg_table}_copy')") is None


async def test_database_query_probe_runs_postgres_read_only_with_the_statement_timeout(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL, statement_timeout=0.5)
    read_only = await probe.observe(params("SHOW transaction_read_only"), context())
    timeout = await probe.observe(params("SHOW statement_timeout"), context())
    assert (read_only.values["value"], timeout.values["value"]) == ("on", "500ms")


async def test_database_query_probe_stops_a_slow_postgres_query(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL, statement_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ProbeError, match="canceling statement due to statement timeout"):
        await probe.observe(params("SELECT pg_sleep(5)"), context())
    assert time.monotonic() - started < 5
    # the pooled connection is fine afterwards
    assert (await probe.observe(params("SELECT 1"), context())).values["value"] == 1


async def test_database_query_probe_uses_the_step_timeout_when_it_is_shorter(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL, statement_timeout=30)
    started = time.monotonic()
    with pytest.raises(ProbeError, match="statement timeout"):
        await probe.observe(params("SELECT pg_sleep(5)"), context(timeout=0.5))
    assert time.monotonic() - started < 5


async def test_database_query_probe_binds_label_values(probe_for: Any, pg_table: str) -> None:
    probe = probe_for(POSTGRES_URL)
    query = params(f"SELECT id FROM {pg_table} WHERE customer = {{{{ labels.v }}}}")
    hostile = await probe.observe(query, context(v="' OR 1=1 --"))
    honest = await probe.observe(query, context(v="alice"))
    assert hostile.values["row_count"] == 0
    assert honest.values["rows"] == [{"id": 1}]


async def test_database_query_probe_keeps_colons_and_percents_literal(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL)
    query = """SELECT '{"a":1}'::jsonb AS j, '10%' AS p, '12:30' AS t WHERE 'abc' LIKE {{ labels.v }}"""
    observation = await probe.observe(params(query), context(v="a%"))
    assert observation.values["rows"] == [{"j": {"a": 1}, "p": "10%", "t": "12:30"}]


async def test_database_query_probe_refuses_a_label_inside_a_literal(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL)
    with pytest.raises(ProbeError, match="quoted string"):
        await probe.observe(params("SELECT 1 WHERE 'x' = '{{ labels.v }}'"), context(v="x"))


async def test_database_query_probe_reports_the_database_error(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL)
    with pytest.raises(ProbeError, match=r"database 'default' \(postgresql://postgres@127.0.0.1:5432/test\): syntax"):
        await probe.observe(params("SELECT 1 +"), context())


async def test_database_query_probe_reports_an_unknown_connection() -> None:
    probe = DatabaseQueryProbe({"primary": connection(POSTGRES_URL)})
    with pytest.raises(ProbeError, match=r"no database connection 'replica' .*known: 'primary'"):
        await probe.observe(params("SELECT 1", database="replica"), context())
    await probe.aclose()


async def test_database_query_probe_hides_the_password_when_the_server_refuses(probe_for: Any) -> None:
    probe = probe_for(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/test")
    with pytest.raises(ProbeError) as caught:
        await probe.observe(params("SELECT 1"), context())
    assert "Connection refused" in str(caught.value)
    assert "postgres:***@127.0.0.1" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"not a url {PASSWORD}", id="not-a-url"),
        pytest.param(f"oracle://scott:{PASSWORD}@127.0.0.1/db", id="unsupported"),
        pytest.param(f"postgresql+nosuchdriver://scott:{PASSWORD}@127.0.0.1/db", id="unknown-driver"),
    ],
)
async def test_database_query_probe_hides_the_password_of_a_bad_url(probe_for: Any, url: str) -> None:
    probe = probe_for(url)
    with pytest.raises(ProbeError) as caught:
        await probe.observe(params("SELECT 1"), context())
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value.__cause__)


# -- SQLite ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT, ratio REAL, blob BLOB, done INTEGER)")
        db.executemany(
            "INSERT INTO jobs VALUES (?, ?, ?, ?, ?)",
            [(1, "backup", 0.5, b"\x01\x02", 1), (2, "report", None, None, 0), (3, "vacuum", 2.0, b"", 0)],
        )
    db.close()
    return path


def sqlite_rows(path: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, name FROM jobs ORDER BY id").fetchall()
    finally:
        db.close()


async def test_database_query_probe_returns_sqlite_rows(probe_for: Any, sqlite_file: Path) -> None:
    probe = probe_for(f"sqlite:///{sqlite_file}")
    observation = await probe.observe(params("SELECT * FROM jobs ORDER BY id", maxRows=2), context())
    assert observation.values == {
        "rows": [
            {"id": 1, "name": "backup", "ratio": 0.5, "blob": "0102", "done": 1},
            {"id": 2, "name": "report", "ratio": None, "blob": None, "done": 0},
        ],
        "row_count": 2,
        "columns": ["id", "name", "ratio", "blob", "done"],
        "value": 1,
    }
    assert observation.message == "2 rows (cut at maxRows)"


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE jobs SET name = 'mallory' WHERE id = 1", id="update"),
        pytest.param("INSERT INTO jobs (id, name) VALUES (99, 'mallory')", id="insert"),
        pytest.param("DROP TABLE jobs", id="drop"),
        pytest.param("PRAGMA user_version = 7", id="pragma"),
    ],
)
async def test_database_query_probe_refuses_writes_on_sqlite(probe_for: Any, sqlite_file: Path, statement: str) -> None:
    probe = probe_for(f"sqlite:///{sqlite_file}")
    with pytest.raises(ProbeError, match=r"readonly database|is not a read"):
        await probe.observe(params(statement), context())
    assert sqlite_rows(sqlite_file) == [(1, "backup"), (2, "report"), (3, "vacuum")]


async def test_database_query_probe_stops_a_slow_sqlite_query(probe_for: Any, sqlite_file: Path) -> None:
    probe = probe_for(f"sqlite:///{sqlite_file}", statement_timeout=0.3)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    started = time.monotonic()
    with pytest.raises(ProbeError, match=r"ran longer than the statement timeout of 0\.3s"):
        await probe.observe(params(endless), context())
    assert time.monotonic() - started < 5


async def test_database_query_probe_does_not_create_a_missing_sqlite_file(probe_for: Any, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    probe = probe_for(f"sqlite:///{missing}")
    with pytest.raises(ProbeError, match="unable to open database file"):
        await probe.observe(params("SELECT 1"), context())
    assert not missing.exists()


async def test_database_query_probe_binds_label_values_on_sqlite(probe_for: Any, sqlite_file: Path) -> None:
    probe = probe_for(f"sqlite:///{sqlite_file}")
    query = params("SELECT id FROM jobs WHERE name = {{ labels.v }}")
    assert (await probe.observe(query, context(v="' OR 1=1 --"))).values["rows"] == []
    assert (await probe.observe(query, context(v="report"))).values["rows"] == [{"id": 2}]


# -- MariaDB / MySQL ------------------------------------------------------------------------

mariadb = pytest.mark.skipif(
    not listening(MARIADB_HOST, MARIADB_PORT), reason=f"nothing listens on {MARIADB_HOST}:{MARIADB_PORT} (MariaDB)"
)


@pytest.fixture
def mariadb_table() -> Iterator[str]:
    engine = create_engine(MARIADB_URL)
    table = f"hr_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as db:
        db.exec_driver_sql(
            f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20), amount DECIMAL(10, 2),"
            " created DATETIME(3), payload VARBINARY(8))"
        )
        db.exec_driver_sql(
            f"INSERT INTO {table} VALUES (1, 'alice', 12.50, '2026-11-26 14:03:01.250', x'00ff'),"
            " (2, 'bob', 3.00, '2026-11-25 08:00:00', NULL)"
        )
    yield table
    with engine.begin() as db:
        db.exec_driver_sql(f"DROP TABLE IF EXISTS {table}, {table}_copy")
    engine.dispose()


def mariadb_scalar(sql: str) -> Any:
    engine = create_engine(MARIADB_URL)
    try:
        with engine.connect() as db:
            return db.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


def mariadb_processes(marker: str) -> list[Any]:
    """The MariaDB threads whose statement holds `marker` (other than this one)."""
    engine = create_engine(MARIADB_URL)
    try:
        with engine.connect() as db:
            where = f"LOCATE('{marker}', info) > 0 AND id <> connection_id()"
            sql = f"SELECT id FROM information_schema.processlist WHERE {where}"
            return list(db.exec_driver_sql(sql).scalars())
    finally:
        engine.dispose()


def mariadb_processes_gone(marker: str) -> bool:
    """Whether the MariaDB threads running `marker` have ended (a killed query ends on its own)."""
    for _ in range(200):
        if not mariadb_processes(marker):
            return True
        time.sleep(0.1)
    return False


@mariadb
async def test_database_query_probe_returns_mariadb_rows(probe_for: Any, mariadb_table: str) -> None:
    probe = probe_for(MARIADB_URL)
    observation = await probe.observe(params(f"SELECT * FROM {mariadb_table} ORDER BY id"), context())
    assert observation.values["rows"] == [
        {"id": 1, "name": "alice", "amount": 12.5, "created": "2026-11-26T14:03:01.250000", "payload": "00ff"},
        {"id": 2, "name": "bob", "amount": 3.0, "created": "2026-11-25T08:00:00", "payload": None},
    ]
    assert observation.values["columns"] == ["id", "name", "amount", "created", "payload"]


@mariadb
async def test_database_query_probe_accepts_a_plain_mysql_url(probe_for: Any) -> None:
    probe = probe_for(MARIADB_URL.replace("mysql+pymysql://", "mysql://"))
    observation = await probe.observe(params("SELECT @@session.tx_read_only AS ro"), context())
    assert observation.values["value"] == 1


@mariadb
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE {table} SET name = 'mallory' WHERE id = 1", id="update"),
        pytest.param("INSERT INTO {table} (id, name) VALUES (99, 'mallory')", id="insert"),
        pytest.param("DELETE FROM {table}", id="delete"),
        # DDL commits implicitly, which would end a merely START TRANSACTION READ ONLY
        pytest.param("CREATE TABLE {table}_copy (id INT)", id="create-table"),
        pytest.param("DROP TABLE {table}", id="drop-table"),
    ],
)
async def test_database_query_probe_refuses_writes_on_mariadb(
    probe_for: Any, mariadb_table: str, statement: str
) -> None:
    probe = probe_for(MARIADB_URL)
    with pytest.raises(ProbeError, match=r"READ ONLY transaction|is not a read"):
        await probe.observe(params(statement.format(table=mariadb_table)), context())
    assert mariadb_scalar(f"SELECT count(*) FROM {mariadb_table}") == 2
    assert mariadb_scalar(f"SELECT name FROM {mariadb_table} WHERE id = 1") == "alice"
    assert mariadb_scalar(f"SHOW TABLES LIKE '{mariadb_table}_copy'") is None


@mariadb
async def test_database_query_probe_stops_a_slow_mariadb_query(probe_for: Any) -> None:
    probe = probe_for(MARIADB_URL, statement_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ProbeError, match="max_statement_time exceeded"):
        await probe.observe(params("SELECT SLEEP(5)"), context())
    assert time.monotonic() - started < 5


@mariadb
async def test_database_query_probe_binds_label_values_on_mariadb(probe_for: Any, mariadb_table: str) -> None:
    probe = probe_for(MARIADB_URL)
    query = params(f"SELECT id FROM {mariadb_table} WHERE name = {{{{ labels.v }}}} AND '5%' LIKE '5%'")
    assert (await probe.observe(query, context(v="' OR 1=1 -- "))).values["rows"] == []
    assert (await probe.observe(query, context(v="bob"))).values["rows"] == [{"id": 2}]


@mariadb
async def test_database_query_probe_hides_a_wrong_password(probe_for: Any) -> None:
    probe = probe_for(f"mysql+pymysql://root:{PASSWORD}@{MARIADB_HOST}:{MARIADB_PORT}/test")
    with pytest.raises(ProbeError, match="Access denied") as caught:
        await probe.observe(params("SELECT 1"), context())
    assert PASSWORD not in str(caught.value)
    assert "root:***@" in str(caught.value)


# -- read-only whatever the SQL (issue #13) -------------------------------------------------


@pytest.fixture
def pg_canary() -> Iterator[str]:
    """An empty table a diagnostic must never write to; dropped afterwards."""
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    table = f"hr_canary_{uuid.uuid4().hex[:12]}"
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE TABLE {table} (v text)")
    yield table
    with engine.begin() as db:
        db.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()


def pg_backends(marker: str) -> list[str]:
    """The states of the backends whose query holds `marker` (other than this one)."""
    sql = f"SELECT state FROM pg_stat_activity WHERE strpos(query, '{marker}') > 0 AND pid <> pg_backend_pid()"
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as db:
            return [row[0] for row in db.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def pg_backends_gone(marker: str) -> bool:
    """Whether the backends running `marker` have ended (a closed connection's backend exits on its own)."""
    for _ in range(200):
        if not pg_backends(marker):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        pytest.param("SELECT 1; COMMIT; INSERT INTO {canary} VALUES ('x'); SELECT 1", "HR310", id="commit-then-insert"),
        pytest.param("SET TRANSACTION READ WRITE; INSERT INTO {canary} VALUES ('x'); COMMIT", "HR310", id="read-write"),
        pytest.param("SET default_transaction_read_only = off", "HR311", id="set-session"),
        pytest.param("COMMIT", "HR311", id="commit"),
        pytest.param("INSERT INTO {canary} VALUES ('x')", "HR313", id="insert"),
        pytest.param("SELECT 1;\nINSERT INTO {canary} VALUES ('x') -- ;", "HR310", id="newline-and-comment"),
    ],
)
async def test_database_query_probe_never_writes_whatever_the_sql_on_postgres(
    probe_for: Any, pg_canary: str, statement: str, code: str
) -> None:
    probe = probe_for(POSTGRES_URL)
    with pytest.raises(ProbeError, match=rf"\({code}\)"):
        await probe.observe(params(statement.format(canary=pg_canary)), context())
    assert pg_scalar(f"SELECT count(*) FROM {pg_canary}") == 0


async def test_database_query_probe_refuses_copy_to_program_as_superuser(probe_for: Any) -> None:
    # the server's /tmp may not be ours (systemd's PrivateTmp): the server says whether the file is there
    target = f"/tmp/hr-copy-{uuid.uuid4().hex}"
    assert pg_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is True
    probe = probe_for(POSTGRES_URL)
    with pytest.raises(ProbeError, match=r"`COPY` writes files or runs programs .*\(HR312\)"):
        await probe.observe(params(f"COPY (SELECT 1) TO PROGRAM 'touch {target}'"), context())
    with pytest.raises(ProbeError, match=r"\(HR312\)"):
        await probe.observe(params(f"/* a comment */ copy (select 1) to '{target}.csv'"), context())
    assert pg_scalar(f"SELECT pg_stat_file('{target}', true) IS NULL AND pg_stat_file('{target}.csv', true) IS NULL")


async def test_database_query_probe_refuses_a_query_that_lifts_its_own_timeout(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL, statement_timeout=30)
    marker = f"hr_marker_{uuid.uuid4().hex}"
    with pytest.raises(ProbeError, match=r"\(HR310\)"):
        await probe.observe(params(f"SET LOCAL statement_timeout = 0; SELECT pg_sleep(20) AS {marker}"), context(3.0))
    assert pg_backends(marker) == []


@pytest.mark.parametrize("kind", ["postgresql", "mariadb", "sqlite"])
async def test_database_query_probe_stops_the_query_at_the_step_deadline_when_the_database_does_not(
    probe_for: Any, monkeypatch: pytest.MonkeyPatch, sqlite_file: Path, kind: str
) -> None:
    # whatever a statement does to the database's own timeout, the client stops it at the step's deadline:
    # here the probe sets no timeout in the transaction at all
    original = database_query._guard
    monkeypatch.setattr(
        database_query,
        "_guard",
        lambda kind, connection, timeout, deadline: original(kind, connection, 30, deadline + 30),
    )
    marker = f"hr_marker_{uuid.uuid4().hex}"
    if kind == "postgresql":
        probe, query = probe_for(POSTGRES_URL, statement_timeout=30), f"SELECT pg_sleep(20) AS {marker}"
    elif kind == "mariadb":
        if not listening(MARIADB_HOST, MARIADB_PORT):
            pytest.skip("no MariaDB")
        probe, query = probe_for(MARIADB_URL, statement_timeout=30), f"SELECT SLEEP(20) AS {marker}"
    else:
        endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        probe, query = probe_for(f"sqlite:///{sqlite_file}", statement_timeout=30), endless
    # "was stopped", or on a busy machine "is being stopped": either way the server's side ends
    with pytest.raises(ProbeError, match=r"ran past the step's timeout of 1s and (was|is being) stopped"):
        await probe.observe(params(query), context(1.0))
    if kind == "postgresql":
        assert pg_backends_gone(marker)
    elif kind == "mariadb":
        assert mariadb_processes_gone(marker)
    assert (await probe.observe(params("SELECT 1 AS one"), context())).values["value"] == 1


async def test_database_query_probe_stops_the_query_when_the_step_is_cancelled(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL, statement_timeout=120)
    marker = f"hr_marker_{uuid.uuid4().hex}"
    task = asyncio.ensure_future(probe.observe(params(f"SELECT pg_sleep(120) AS {marker}"), context(120)))
    for _ in range(200):
        if pg_backends(marker) == ["active"]:
            break
        await asyncio.sleep(0.05)
    assert pg_backends(marker) == ["active"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pg_backends_gone(marker)


async def test_database_query_probe_session_is_read_only_from_the_start(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL)
    observation = await probe.observe(params("SHOW default_transaction_read_only"), context())
    assert observation.values["value"] == "on"


async def test_database_query_probe_casts_a_label_value(probe_for: Any) -> None:
    probe = probe_for(POSTGRES_URL)
    query = "SELECT {{ labels.n }}::int + 1 AS n, {{ labels.s }}::text AS s, (ARRAY[1, 2, 3])[{{ labels.n }}:3] AS a"
    observation = await probe.observe(params(query), context(n="2", s="x"))
    assert observation.values["rows"] == [{"n": 3, "s": "x", "a": [2, 3]}]


async def test_database_query_probe_refuses_several_statements_on_sqlite(probe_for: Any, sqlite_file: Path) -> None:
    probe = probe_for(f"sqlite:///{sqlite_file}")
    with pytest.raises(ProbeError, match=r"\(HR310\)"):
        await probe.observe(params("SELECT 1; DELETE FROM jobs"), context())
    outside = sqlite_file.parent / "copy.db"
    with pytest.raises(ProbeError, match=r"\(HR313\)"):
        await probe.observe(params(f"VACUUM INTO '{outside}'"), context())
    assert not outside.exists()
    assert sqlite_rows(sqlite_file) == [(1, "backup"), (2, "report"), (3, "vacuum")]


@mariadb
@pytest.mark.parametrize(
    ("statement", "code"),
    [
        pytest.param("SELECT 1; DELETE FROM {table}", "HR310", id="several"),
        pytest.param("SET SESSION TRANSACTION READ WRITE", "HR311", id="read-write"),
        pytest.param("SET STATEMENT max_statement_time = 0 FOR SELECT SLEEP(20)", "HR311", id="set-statement"),
        pytest.param("DELETE FROM {table}", "HR313", id="delete"),
    ],
)
async def test_database_query_probe_never_writes_whatever_the_sql_on_mariadb(
    probe_for: Any, mariadb_table: str, statement: str, code: str
) -> None:
    probe = probe_for(MARIADB_URL)
    with pytest.raises(ProbeError, match=rf"\({code}\)"):
        await probe.observe(params(statement.format(table=mariadb_table)), context())
    assert mariadb_scalar(f"SELECT count(*) FROM {mariadb_table}") == 2


@mariadb
async def test_database_query_probe_refuses_into_outfile_on_mariadb(probe_for: Any) -> None:
    target = f"/tmp/hr-outfile-{uuid.uuid4().hex}"
    probe = probe_for(MARIADB_URL)
    with pytest.raises(ProbeError, match=r"`INTO OUTFILE` writes a file .*\(HR312\)"):
        await probe.observe(params(f"SELECT 1 INTO OUTFILE '{target}'"), context())
    # MariaDB runs the text of a /*! ... */ comment
    with pytest.raises(ProbeError, match=r"\(HR312\)"):
        await probe.observe(params(f"SELECT 1 /*!50000 INTO OUTFILE '{target}' */"), context())
    assert not Path(target).exists()
