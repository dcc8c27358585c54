"""database_query: a read-only SQL query on a named connection.

A query is exactly one statement that reads (`sql_check.read_only_refusal`: no second statement,
no transaction or session control, no `COPY` or `INTO OUTFILE`); anything else is refused before
it reaches the database. It runs in a session that starts read-only and takes one statement per
query (`sql.open_database(read_only=True)`), under a statement timeout the database enforces
itself, and is always rolled back:

- PostgreSQL (psycopg 3): `SET TRANSACTION READ ONLY` and `SET LOCAL statement_timeout` open the
  transaction, so writes, DDL, `nextval()` and `SELECT ... FOR UPDATE` are refused by the server.
- MySQL / MariaDB (PyMySQL): `SET SESSION TRANSACTION READ ONLY` (which also covers DDL, whose
  implicit commit would otherwise leave a read-only transaction), then `START TRANSACTION READ
  ONLY`; the timeout is `max_statement_time` on MariaDB and `MAX_EXECUTION_TIME` (SELECTs) on MySQL.
- SQLite: the file is opened with `mode=ro` and `PRAGMA query_only`; a progress handler stops a
  query that runs past its deadline.

The timeout is the connection's `statement_timeout` or 90% of the step's timeout, whichever is
shorter (so the database's own message arrives before the step gives up). At the step's timeout,
or when `observe` is cancelled, the client stops the query whatever it did to the database's timer
(`sql.Interrupt`) and its connection is closed, not reused.
`{{ labels.x }}` becomes a bind parameter (see `render_sql`), never SQL text. At most `maxRows`
rows are fetched and returned; the database still computes the whole result within the timeout,
so a query that could return many rows should say `LIMIT` itself.

Engines (SQLAlchemy 2, synchronous drivers run in a worker thread) are created on first use per
connection name and kept until `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from handrail.diagnostics.base import ConfigRefusal, Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.runbook.template import SqlStatement, render_sql, sql_skeleton
from handrail.sql import (
    BUDGET_SHARE,
    Database,
    DatabaseConnection,
    DatabaseKind,
    Databases,
    DatabaseSetupError,
    Interrupt,
    bind_text,
    plain_value,
    sqlite_connection,
)
from handrail.sql_check import read_only_refusal

__all__ = ["DatabaseQueryParams", "DatabaseQueryProbe"]

_PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two looks at the deadline."""
_STOP_GRACE = 2.0
"""After the step's deadline, how long to wait for the stopped query to end (to report that it did)."""


class DatabaseQueryParams(ProbeParams):
    """`query` runs in a read-only transaction with a statement timeout on `database`."""

    query: str = Field(min_length=1)
    database: str = "default"
    """A database connection named in handrail.yaml."""
    max_rows: int = Field(default=1000, gt=0, le=100_000)

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "rows": "the rows, each a mapping of column to value",
        "row_count": "how many rows came back (at most maxRows)",
        "columns": "the column names",
        "value": "the first column of the first row (null when there are no rows)",
    }

    def refusals(self) -> Sequence[ConfigRefusal]:
        """The query's refusal by the read-only rule (`sql_check`), on any database."""
        # a placeholder becomes a bind of the same length, so columns stay where the author wrote them
        refusal = read_only_refusal(sql_skeleton(self.query))
        if refusal is None:
            return ()
        return (ConfigRefusal("query", refusal.code, refusal.message, refusal.offset + 1),)


@dataclass(frozen=True, slots=True)
class _Rows:
    """What one query returned: column names, at most `max_rows` rows, and whether more were there."""

    columns: list[str]
    rows: list[dict[str, Any]]
    value: Any
    cut: bool


class DatabaseQueryProbe:
    """Runs `database_query` diagnostics; one SQLAlchemy engine per named connection, reused."""

    def __init__(self, databases: Mapping[str, DatabaseConnection]) -> None:
        self._connections = databases
        self._databases = Databases(read_only=True)

    async def observe(self, params: DatabaseQueryParams, context: ProbeContext) -> Observation:
        """Run the query read-only within the statement timeout and return at most `maxRows` rows."""
        connection = self._connections.get(params.database)
        if connection is None:
            known = ", ".join(repr(name) for name in sorted(self._connections)) or "none"
            raise ProbeError(
                f"no database connection {params.database!r} (configure `databases:` in handrail.yaml; known: {known})"
            )
        try:
            statement = render_sql(params.query, context.template)
        except TemplateError as exc:
            raise ProbeError(f"query: {exc}") from exc
        database = self._database(params.database, connection)
        refusal = read_only_refusal(statement.sql, database.kind)
        if refusal is not None:
            raise ProbeError(f"query: {refusal.message} ({refusal.code})")
        # a little under the step's timeout, so the database's own error arrives before the step gives up
        timeout = min(connection.statement_timeout, context.timeout * BUDGET_SHARE)
        interrupt = Interrupt()
        worker = asyncio.ensure_future(
            asyncio.to_thread(_query, database, statement, interrupt, timeout=timeout, max_rows=params.max_rows)
        )
        worker.add_done_callback(_retrieve)
        try:
            # The database stops the statement at `timeout`; the step's deadline stops whatever the SQL did to that.
            found = await asyncio.wait_for(asyncio.shield(worker), context.timeout)
        except TimeoutError:
            interrupt.fire()
        except asyncio.CancelledError:
            interrupt.fire()
            raise
        else:
            return _observation(found)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(worker), _STOP_GRACE)
        stopped = "was stopped" if worker.done() else "is being stopped"
        raise ProbeError(
            database.explain(f"the query ran past the step's timeout of {context.timeout:g}s and {stopped}")
        )

    async def aclose(self) -> None:
        """Dispose of every engine (and its pooled connections)."""
        await self._databases.aclose()

    def _database(self, name: str, connection: DatabaseConnection) -> Database:
        try:
            return self._databases.get(name, connection)
        except DatabaseSetupError as exc:
            raise ProbeError(str(exc)) from None


# -- the query (in a worker thread) -------------------------------------------------------


def _retrieve(worker: asyncio.Future[_Rows]) -> None:
    """Mark an abandoned worker's error as seen (it was either reported or is no longer wanted)."""
    if not worker.cancelled():
        worker.exception()


def _query(
    database: Database, statement: SqlStatement, interrupt: Interrupt, *, timeout: float, max_rows: int
) -> _Rows:
    """Run `statement` read-only with `timeout`, fetch up to `max_rows` rows, and roll back."""
    deadline = time.monotonic() + timeout
    try:
        with database.engine.connect() as connection:
            try:
                if not interrupt.arm(database, connection):
                    raise ProbeError(database.explain("the step ended before the query began"))
                _guard(database.kind, connection, timeout, deadline)
                result = connection.execute(bind_text(statement), statement.params)
                if not result.returns_rows:
                    return _Rows([], [], None, cut=False)
                columns = list(map(str, result.keys()))
                fetched = result.fetchmany(max_rows + 1)
                result.close()
            finally:
                interrupt.disarm()
                if interrupt.fired:
                    connection.invalidate()  # closed, never reused: its backend ends with it
                else:
                    # read-only or not, nothing a diagnostic did is ever committed
                    with contextlib.suppress(SQLAlchemyError):
                        connection.rollback()
                    if database.kind == "sqlite":
                        sqlite_connection(connection).set_progress_handler(None, 0)
    except DBAPIError as exc:
        if database.kind == "sqlite" and "interrupted" in str(exc.orig) and time.monotonic() >= deadline:
            raise ProbeError(
                database.explain(f"the query ran longer than the statement timeout of {timeout:g}s")
            ) from exc
        raise ProbeError(database.explain(exc)) from exc
    except SQLAlchemyError as exc:
        raise ProbeError(database.explain(exc)) from exc
    rows = [
        {column: plain_value(value) for column, value in zip(columns, row, strict=False)} for row in fetched[:max_rows]
    ]
    value = plain_value(fetched[0][0]) if fetched and columns else None
    return _Rows(columns, rows, value, cut=len(fetched) > max_rows)


def _guard(kind: DatabaseKind, connection: Connection, timeout: float, deadline: float) -> None:
    """Make the transaction read-only and give its statements `timeout` seconds."""
    if kind == "postgresql":
        # both must come first in the transaction (psycopg has begun it implicitly)
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
    elif kind == "mysql":
        if getattr(connection.dialect, "is_mariadb", False):
            connection.exec_driver_sql(f"SET SESSION max_statement_time = {max(0.001, timeout):.3f}")
        else:
            connection.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {max(1, round(timeout * 1000))}")
        connection.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        connection.exec_driver_sql("START TRANSACTION READ ONLY")
    else:
        connection.exec_driver_sql("PRAGMA query_only = ON")
        sqlite_connection(connection).set_progress_handler(lambda: time.monotonic() >= deadline, _PROGRESS_STEPS)


# -- the observation ----------------------------------------------------------------------


def _observation(found: _Rows) -> Observation:
    values: dict[str, Any] = {
        "rows": found.rows,
        "row_count": len(found.rows),
        "columns": found.columns,
        "value": found.value,
    }
    count = len(found.rows)
    message = "no rows" if count == 0 else f"{count} row{'' if count == 1 else 's'}"
    if found.cut:
        message += " (cut at maxRows)"
    if count == 1 and len(found.columns) == 1:
        message += f"; value {_show(values['value'])}"
    return Observation(values=values, message=message)


def _show(value: Any) -> str:
    shown = repr(value) if isinstance(value, str) else str(value)
    return shown if len(shown) <= 80 else shown[:80] + "…"
