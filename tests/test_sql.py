"""Read-only engines are read-only from the session's start and take one statement per query, below any check."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from handrail.sql import DatabaseConnection, Databases, DatabaseSetupError, open_database

pytestmark = pytest.mark.timeout(30)

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


mariadb = pytest.mark.skipif(not _listening("127.0.0.1", 3306), reason="nothing listens on 127.0.0.1:3306 (MariaDB)")


@pytest.fixture
def pg_canary() -> Iterator[str]:
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"))
    table = f"hr_canary_{uuid.uuid4().hex[:12]}"
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE TABLE {table} (v text)")
    yield table
    with engine.begin() as db:
        db.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()


def test_read_only_postgres_session_refuses_several_statements_and_writes(pg_canary: str) -> None:
    database = open_database("db", SecretStr(POSTGRES_URL), statement_timeout=5, read_only=True)
    try:
        with database.engine.connect() as db:
            assert db.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
            assert db.exec_driver_sql("SHOW statement_timeout").scalar() == "5s"
            db.rollback()
            with pytest.raises(DBAPIError, match="cannot insert multiple commands"):
                db.exec_driver_sql(f"COMMIT; INSERT INTO {pg_canary} VALUES ('x')")
            db.rollback()
            with pytest.raises(DBAPIError, match="read-only transaction"):
                db.exec_driver_sql(f"INSERT INTO {pg_canary} VALUES ('x')")
    finally:
        database.engine.dispose()
    check = open_database("db", SecretStr(POSTGRES_URL), statement_timeout=5, read_only=False)
    try:
        with check.engine.connect() as db:
            assert db.exec_driver_sql(f"SELECT count(*) FROM {pg_canary}").scalar() == 0
            # an action's session is not read-only
            assert db.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "off"
    finally:
        check.engine.dispose()


def test_read_only_postgres_session_keeps_the_urls_own_options() -> None:
    url = SecretStr(f"{POSTGRES_URL}?options=-c%20search_path%3Dhr_nowhere")
    database = open_database("db", url, statement_timeout=5, read_only=True)
    try:
        with database.engine.connect() as db:
            assert db.exec_driver_sql("SHOW search_path").scalar() == "hr_nowhere"
            assert db.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
    finally:
        database.engine.dispose()


@mariadb
@pytest.mark.parametrize("url", [MARIADB_URL, f"{MARIADB_URL}?client_flag=65536"], ids=["plain", "asks-multi"])
def test_read_only_mariadb_session_refuses_several_statements_and_starts_read_only(url: str) -> None:
    database = open_database("db", SecretStr(url), statement_timeout=5, read_only=True)
    try:
        with database.engine.connect() as db:
            assert db.exec_driver_sql("SELECT @@session.tx_read_only").scalar() == 1
            with pytest.raises(DBAPIError, match="syntax"):
                db.exec_driver_sql("SELECT 1; SELECT 2")
    finally:
        database.engine.dispose()


async def test_databases_open_one_engine_per_connection_name_and_dispose_them_together(tmp_path: Path) -> None:
    databases = Databases(read_only=True)
    connection = DatabaseConnection.model_validate({"url": f"sqlite:///{tmp_path / 'd.db'}"})
    first = databases.get("app", connection)
    assert databases.get("app", connection) is first
    await databases.aclose()
    assert databases.get("app", connection) is not first
    await databases.aclose()


def test_databases_name_a_connection_no_engine_can_be_made_for_without_its_password() -> None:
    connection = DatabaseConnection.model_validate({"url": "nosuchdb://user:sec-ret-pass@host/db"})
    with pytest.raises(DatabaseSetupError) as raised:
        Databases(read_only=False).get("broken", connection)
    assert "sec-ret-pass" not in str(raised.value)
    assert "broken" in str(raised.value)
