"""run_script: SQL on a named database connection, or a shell script or command.

Alert label values never become code: in `shell` each one travels in an environment variable
(`"${HANDRAIL_V1}"`, see `render_shell`), in `command` each stays one argument, and in `sql` each
is a bind parameter (`:hr_p1`). Besides those, a script always gets `HANDRAIL_INCIDENT_ID` and
`HANDRAIL_IDEMPOTENCY_KEY`, so it can make itself idempotent.

- `shell` / `command` run through `handrail.process.run_process`: stdin is `/dev/null`, output is
  capped, and on timeout (the shorter of `timeout` and the step's) or cancellation the whole
  process group is killed. Exit 0 is success; any other status is a failed outcome.
- `sql` runs in one read-write transaction, committed when the statement succeeds and rolled back
  when it fails. The database stops it at 90% of the timeout (PostgreSQL `SET LOCAL
  statement_timeout`, MariaDB `max_statement_time`, MySQL `MAX_EXECUTION_TIME` — which covers
  SELECTs only —, SQLite a progress handler). If the step's deadline passes anyway, or the action
  is cancelled, the transaction is rolled back instead of committed unless its commit had already
  begun; the outcome says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator
from sqlalchemy import Connection, CursorResult
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from handrail.actions._command import render_command, run_command
from handrail.actions.base import ActionContext, ActionOutcome, ActionParams, ActionScope
from handrail.errors import ActionError, TemplateError
from handrail.process import (
    KILL_GRACE,
    MAX_OUTPUT,
)
from handrail.runbook.model import Duration
from handrail.runbook.template import SqlStatement, render_sql, render_text
from handrail.sql import (
    BUDGET_SHARE,
    Database,
    DatabaseConnection,
    DatabaseKind,
    Databases,
    DatabaseSetupError,
    bind_text,
    plain_value,
    sqlite_connection,
)

__all__ = ["RunScriptAction", "RunScriptParams"]

_SHOWN_ROWS = 20
"""Rows of a result shown in the outcome's output."""
_CELL = 60
"""Characters of one value shown in the output table."""
_COMMIT_GRACE = 2.0
"""After the deadline, how long to wait for a commit that had already begun."""
_PROGRESS_STEPS = 1000
_DML = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "COPY"})
_VERB = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_COUNTED = {
    "pg_terminate_backend": ("backend", "backends", "terminated"),
    "pg_cancel_backend": ("query", "queries", "cancelled"),
}
"""Single boolean columns whose true values are counted as something that happened."""


class RunScriptParams(ActionParams):
    """Exactly one of `sql` (with `database`), `shell` (a script for /bin/sh) or `command` (argv)."""

    sql: str | None = Field(default=None, min_length=1)
    database: str | None = None
    shell: str | None = Field(default=None, min_length=1)
    command: list[str] | None = Field(default=None, min_length=1)
    timeout: Duration = 60.0

    KEY_HINTS: ClassVar[Mapping[str, str]] = {
        "script": "write SQL as `sql` with `database` (the connection), or a shell script as `shell`",
    }

    @model_validator(mode="after")
    def _one_script(self) -> Self:
        given = [n for n in (self.sql, self.shell, self.command) if n is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `sql` (with `database`), `shell` or `command`")
        if self.sql is not None and not self.database:
            raise ValueError("`sql` needs `database`: the connection (named in handrail.yaml) to run it on")
        if self.database is not None and self.sql is None:
            raise ValueError("`database` only applies to `sql`")
        return self


class RunScriptAction:
    """Runs `run_script` actions: subprocesses in their own process group, SQL in one transaction."""

    def __init__(
        self,
        databases: Mapping[str, DatabaseConnection],
        *,
        max_output: int = MAX_OUTPUT,
        kill_grace: float = KILL_GRACE,
    ) -> None:
        if max_output <= 0:
            raise ValueError("max_output must be positive")
        self._connections = databases
        self._databases = Databases(read_only=False)
        self._max_output = max_output
        self._kill_grace = kill_grace

    def describe(self, params: RunScriptParams, context: ActionContext) -> str:
        """The command line (and the values its environment carries), or the SQL with its bind values."""
        if params.sql is not None:
            name, statement = self._statement(params, context)
            binds = [f"-- :{key} = {_sql_literal(str(value))}" for key, value in statement.params.items()]
            return "\n".join([statement.sql.rstrip(), *binds, f"-- on database {name}"])
        argv, env = _command(params, context)
        return "\n".join([shlex.join(argv), *(f"{key}={shlex.quote(value)}" for key, value in env.items())])

    def scope(self, params: RunScriptParams, context: ActionContext) -> ActionScope:
        """SQL touches its database; a shell script is `sh` (its contents are opaque); argv is its program."""
        if params.sql is not None:
            name = render_text(params.database or "", context.template) if params.database else ""
            return ActionScope(target=f"sql:{name}", database=name)
        if params.shell is not None:
            return ActionScope(target="command:sh", command="sh")
        argv, _ = _command(params, context)
        program = Path(argv[0]).name
        return ActionScope(target=f"command:{program}", command=program)

    async def execute(self, params: RunScriptParams, context: ActionContext) -> ActionOutcome:
        """Run the script once within the shorter of its `timeout` and the step's."""
        timeout = min(params.timeout, context.timeout)
        if params.sql is not None:
            name, statement = self._statement(params, context)
            database = self._database(name)
            return await self._execute_sql(database, statement, timeout)
        argv, env = _command(params, context)
        return await run_command(
            argv, env, context, timeout=timeout, max_output=self._max_output, kill_grace=self._kill_grace
        )

    async def aclose(self) -> None:
        """Dispose of every engine (and its pooled connections)."""
        await self._databases.aclose()

    # -- SQL ------------------------------------------------------------------------------

    def _statement(self, params: RunScriptParams, context: ActionContext) -> tuple[str, SqlStatement]:
        assert params.sql is not None
        assert params.database is not None
        if params.database not in self._connections:
            known = ", ".join(repr(name) for name in sorted(self._connections)) or "none"
            raise ActionError(
                f"no database connection {params.database!r} (configure `databases:` in handrail.yaml; known: {known})"
            )
        try:
            return params.database, render_sql(params.sql, context.template)
        except TemplateError as exc:
            raise ActionError(f"sql: {exc}") from exc

    def _database(self, name: str) -> Database:
        try:
            return self._databases.get(name, self._connections[name])
        except DatabaseSetupError as exc:
            raise ActionError(str(exc)) from None

    async def _execute_sql(self, database: Database, statement: SqlStatement, timeout: float) -> ActionOutcome:
        attempt = _Attempt()
        # the database's own error arrives a little before the step gives up
        limit = timeout * BUDGET_SHARE
        worker = asyncio.ensure_future(
            asyncio.to_thread(
                _run_sql,
                database,
                statement,
                attempt,
                limit=limit,
                deadline=time.monotonic() + limit,
                max_output=self._max_output,
            )
        )
        worker.add_done_callback(_retrieve)
        try:
            return await asyncio.wait_for(asyncio.shield(worker), timeout)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            attempt.abandon()  # the worker rolls back when its statement ends, unless it is committing
            raise
        if attempt.abandon() is False:
            return ActionOutcome(False, database.explain(f"timed out after {timeout:g}s; nothing was committed"))
        # the commit had begun (or ended) when the deadline passed: its result is the outcome
        try:
            outcome = await asyncio.wait_for(asyncio.shield(worker), _COMMIT_GRACE)
        except TimeoutError:
            message = f"timed out after {timeout:g}s while committing; whether the commit took effect is unknown"
            return ActionOutcome(False, database.explain(message))
        return ActionOutcome(outcome.ok, f"{outcome.message} (after the timeout of {timeout:g}s)", outcome.output)


class _Attempt:
    """Whether the transaction may still be committed; shared by the event loop and the worker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._committed = False

    def commit(self, connection: Connection) -> bool:
        """Commit unless abandoned; False when abandoned (the caller rolls back)."""
        with self._lock:
            if self._abandoned:
                return False
            connection.commit()
            self._committed = True
            return True

    def abandon(self) -> bool | None:
        """Forbid a commit that has not begun: False if nothing was committed, True if it was, None while committing."""
        # never blocks the event loop: the lock is only held while a commit is under way
        if not self._lock.acquire(blocking=False):
            return None
        try:
            self._abandoned = True
            return self._committed
        finally:
            self._lock.release()


def _retrieve(worker: asyncio.Future[ActionOutcome]) -> None:
    """Mark an abandoned worker's error as seen (it was either reported or is no longer wanted)."""
    if not worker.cancelled():
        worker.exception()


def _run_sql(
    database: Database, statement: SqlStatement, attempt: _Attempt, *, limit: float, deadline: float, max_output: int
) -> ActionOutcome:
    """Run `statement` in one transaction until `deadline` (`limit` seconds after the start); commit on success.

    Runs in a worker thread. An error rolls the transaction back; so does `attempt` abandoned before the commit.
    """
    try:
        connection = database.engine.connect()
    except SQLAlchemyError as exc:
        raise ActionError(database.explain(exc)) from exc
    timeout = max(0.001, deadline - time.monotonic())
    with connection:
        try:
            _limit(database.kind, connection, timeout, deadline)
            result = connection.execute(bind_text(statement), statement.params)
            message, output = _summary(_verb(statement.sql), result, max_output)
            if not attempt.commit(connection):
                connection.rollback()
                return ActionOutcome(False, "abandoned after the timeout; rolled back")
        except SQLAlchemyError as exc:
            with contextlib.suppress(SQLAlchemyError):
                connection.rollback()
            if (
                database.kind == "sqlite"
                and isinstance(exc, DBAPIError)
                and "interrupted" in str(exc.orig)
                and time.monotonic() >= deadline
            ):
                return ActionOutcome(False, database.explain(f"ran longer than the statement timeout of {limit:g}s"))
            return ActionOutcome(False, database.explain(exc))
        finally:
            if database.kind == "sqlite":
                with contextlib.suppress(SQLAlchemyError):
                    sqlite_connection(connection).set_progress_handler(None, 0)
    return ActionOutcome(True, message, output)


def _limit(kind: DatabaseKind, connection: Connection, timeout: float, deadline: float) -> None:
    """Give the transaction's statements `timeout` seconds, enforced by the database where it can."""
    if kind == "postgresql":
        # LOCAL: only this transaction (psycopg has begun it implicitly); it ends with the commit
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
    elif kind == "mysql":
        if getattr(connection.dialect, "is_mariadb", False):
            connection.exec_driver_sql(f"SET SESSION max_statement_time = {max(0.001, timeout):.3f}")
        else:
            connection.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {max(1, round(timeout * 1000))}")
    else:
        sqlite_connection(connection).set_progress_handler(lambda: time.monotonic() >= deadline, _PROGRESS_STEPS)


def _verb(sql: str) -> str:
    """The statement's first keyword (`SELECT`, `UPDATE`), after comments."""
    match = _VERB.match(sql)
    return match.group(1).upper() if match else "SQL"


def _summary(verb: str, result: CursorResult[Any], max_output: int) -> tuple[str, str]:
    """The outcome's message (`UPDATE: 2 rows affected`) and output (a table of the first rows)."""
    if not result.returns_rows:
        if verb in _DML and result.rowcount >= 0:
            return f"{verb}: {_count(result.rowcount, 'row', 'rows')} affected", ""
        return f"{verb}: done", ""
    columns = list(map(str, result.keys()))
    shown: list[list[Any]] = []
    count = 0
    true = 0
    booleans = len(columns) == 1
    for row in result:
        count += 1
        if len(shown) < _SHOWN_ROWS:
            shown.append([plain_value(value) for value in row])
        if booleans:
            if isinstance(row[0], bool):
                true += row[0]
            elif row[0] is not None:
                booleans = False
    message = f"{verb}: {_count(count, 'row', 'rows')}"
    if booleans and count:
        one, many, happened = _COUNTED.get(columns[0].lower(), ("", "", ""))
        message += f"; {_count(true, one, many)} {happened}" if happened else f"; {true} true"
    return message, _table(columns, shown, count)[:max_output]


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _table(columns: list[str], rows: list[list[Any]], count: int) -> str:
    """A small psql-like table of `rows`, with how many there were in all."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(column), *(len(row[index]) for row in cells)]) for index, column in enumerate(columns)]
    lines = [" | ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)).rstrip()]
    lines.append("-+-".join("-" * width for width in widths))
    lines += [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    shown = f"first {len(rows)} of {count} rows" if count > len(rows) else _count(count, "row", "rows")
    lines.append(f"({shown})")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    text = text.translate(_CONTROL)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _sql_literal(value: str) -> str:
    """A bind value as a SQL string literal, for the dry-run text (control characters escaped, so it stays one line)."""
    return "'" + value.replace("'", "''").translate(_CONTROL) + "'"


# -- processes ----------------------------------------------------------------------------


def _command(params: RunScriptParams, context: ActionContext) -> tuple[list[str], dict[str, str]]:
    """The argv to run and the template values its environment carries, or raise `ActionError`."""
    command = params.shell if params.shell is not None else params.command
    assert command is not None
    return render_command(command, context, label="shell" if params.shell is not None else "command")
