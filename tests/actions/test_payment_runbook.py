"""The corrected payment-service-slow runbook's kill_idle_connections, for real, on PostgreSQL.

The remediation is taken from examples/runbooks/payment-service-slow.yaml as it stands, with one
change: its idle threshold of five minutes becomes two seconds, because a test cannot wait five
minutes. It must end the idle sessions on the payments database it runs on, and nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from handrail.actions.base import ActionContext
from handrail.actions.run_script import RunScriptAction, RunScriptParams
from handrail.lint import lint_file
from handrail.sql import DatabaseConnection

ROOT = Path(__file__).parents[2]
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def payments_database() -> Iterator[str]:
    name = f"handrail_payments_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def session(database: str) -> psycopg.Connection:
    connection = psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}", autocommit=True)
    connection.execute("SELECT 1")
    return connection


def alive(connection: psycopg.Connection) -> bool:
    try:
        connection.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


async def test_kill_idle_connections_ends_idle_payments_sessions_and_nothing_else(payments_database: str) -> None:
    runbook = lint_file(ROOT / "examples" / "runbooks" / "payment-service-slow.yaml").runbook
    assert runbook is not None
    remediation = runbook.remediation("kill_idle_connections")
    assert remediation is not None
    assert remediation.action is not None
    config = dict(remediation.action.config)
    assert "INTERVAL '5 minutes'" in config["sql"]
    config["sql"] = config["sql"].replace("INTERVAL '5 minutes'", "INTERVAL '2 seconds'")

    idle = [session(payments_database), session(payments_database)]
    elsewhere = session("test")  # idle too, but on another database
    in_transaction = session(payments_database)
    in_transaction.execute("BEGIN")
    in_transaction.execute("SELECT 1")  # 'idle in transaction', not 'idle'
    time.sleep(2.5)
    fresh = session(payments_database)  # idle for less than the threshold

    action = RunScriptAction(
        {"payments": DatabaseConnection(url=SecretStr(f"postgresql://postgres@127.0.0.1:5432/{payments_database}"))}
    )
    try:
        outcome = await action.execute(
            RunScriptParams.model_validate(config),
            ActionContext(incident_id="INC-TEST", idempotency_key="INC-TEST:kill_idle_connections:1"),
        )
    finally:
        await action.aclose()

    assert outcome.ok, outcome
    assert outcome.message == "SELECT: 2 rows; 2 backends terminated"
    assert [alive(c) for c in idle] == [False, False]
    assert alive(elsewhere)
    assert alive(in_transaction)
    assert alive(fresh)
    for connection in (elsewhere, in_transaction, fresh):
        connection.close()
