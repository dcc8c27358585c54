"""database_query: a read-only SQL query on a named connection.

Every query runs read-only, under a statement timeout the database enforces itself, and is
always rolled back:

- PostgreSQL (psycopg 3): `SET TRANSACTION READ ONLY` and `SET LOCAL statement_timeout` open the
  transaction, so writes, DDL, `nextval()` and `SELECT ... FOR UPDATE` are refused by the server.
- MySQL / MariaDB (PyMySQL): `SET SESSION TRANSACTION READ ONLY` (which also covers DDL, whose
  implicit commit would otherwise leave a read-only transaction), then `START TRANSACTION READ
  ONLY`; the timeout is `max_statement_time` on MariaDB and `MAX_EXECUTION_TIME` (SELECTs) on MySQL.
- SQLite: the file is opened with `mode=ro` and `PRAGMA query_only`; a progress handler stops a
  query that runs past its deadline.

The timeout is the connection's `statement_timeout` or 90% of the step's timeout, whichever is
shorter (so the database's own message arrives before the step gives up).
`{{ labels.x }}` becomes a bind parameter (see `render_sql`), never SQL text. At most `maxRows`
rows are fetched and returned; the database still computes the whole result within the timeout,
so a query that could return many rows should say `LIMIT` itself.

Engines (SQLAlchemy 2, synchronous drivers run in a worker thread) are created on first use per
connection name and kept until `aclose()`. When `observe` is cancelled, the worker finishes on
its own within the statement timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, ClassVar, Literal
from urllib.parse import quote, quote_plus

from pydantic import Field, SecretStr
from sqlalchemy import URL, Connection, Engine, TextClause, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from handrail.diagnostics.base import Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.runbook.model import Duration, StrictModel
from handrail.runbook.template import SqlStatement, render_sql

__all__ = ["BUDGET_SHARE", "DatabaseConnection", "DatabaseQueryParams", "DatabaseQueryProbe"]

BUDGET_SHARE = 0.9
"""The share of the step's timeout a statement may take when that is shorter than `statement_timeout`."""
_Kind = Literal["postgresql", "mysql", "sqlite"]
_PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two looks at the deadline."""
_MESSAGE_LIMIT = 500
_TEXT_BIND: re.Pattern[str] = TextClause._bind_params_regex
"""What `sqlalchemy.text()` takes for a bind parameter (the compiler uses the same pattern)."""


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


class DatabaseConnection(StrictModel):
    """A database to query: a SQLAlchemy URL (postgresql://, sqlite:///, mysql+pymysql://).

    The URL usually holds a password, so it is a secret: give it as `${DATABASE_URL}`.
    """

    url: SecretStr
    statement_timeout: Duration = 10.0
    """The longest one query may run, enforced by the database itself where it can."""


@dataclass(frozen=True, slots=True)
class _Rows:
    """What one query returned: column names, at most `max_rows` rows, and whether more were there."""

    columns: list[str]
    rows: list[dict[str, Any]]
    value: Any
    cut: bool


@dataclass(frozen=True, slots=True)
class _Database:
    """One configured connection with its engine, and how to name it without its password."""

    name: str
    kind: _Kind
    engine: Engine
    shown: str
    secrets: tuple[str, ...]

    def fail(self, exc: BaseException | str) -> ProbeError:
        """A `ProbeError` naming the database and saying what went wrong, without the password."""
        return _failure(self.name, self.shown, self.secrets, exc)


def _failure(name: str, shown: str, secrets: tuple[str, ...], exc: BaseException | str) -> ProbeError:
    message = f"database {name!r} ({shown}): {exc if isinstance(exc, str) else _describe(exc)}"
    for secret in secrets:
        message = message.replace(secret, "***")
    return ProbeError(message)


class DatabaseQueryProbe:
    """Runs `database_query` diagnostics; one SQLAlchemy engine per named connection, reused."""

    def __init__(self, databases: Mapping[str, DatabaseConnection]) -> None:
        self._connections = databases
        self._databases: dict[str, _Database] = {}

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
        # a little under the step's timeout, so the database's own error arrives before the step gives up
        timeout = min(connection.statement_timeout, context.timeout * BUDGET_SHARE)
        try:
            # The database stops the statement at `timeout`; this bounds connecting and everything else.
            async with asyncio.timeout(context.timeout):
                found = await asyncio.to_thread(_query, database, statement, timeout=timeout, max_rows=params.max_rows)
        except TimeoutError as exc:
            raise database.fail(f"timed out after {context.timeout:g}s") from exc
        return _observation(found)

    async def aclose(self) -> None:
        """Dispose of every engine (and its pooled connections)."""
        databases, self._databases = list(self._databases.values()), {}
        for database in databases:
            await asyncio.to_thread(database.engine.dispose)

    def _database(self, name: str, connection: DatabaseConnection) -> _Database:
        database = self._databases.get(name)
        if database is None:
            database = self._databases[name] = _create(name, connection)
        return database


# -- engines ------------------------------------------------------------------------------


def _create(name: str, connection: DatabaseConnection) -> _Database:
    """An engine for `connection`, read-only where the driver allows it at connect time."""
    raw = connection.url.get_secret_value()
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        # not chained: the library's message would quote the URL, password and all
        raise ProbeError(
            f"database {name!r}: the URL is not a SQLAlchemy URL (like postgresql://user:password@host/db)"
        ) from None
    shown = url.render_as_string(hide_password=True)
    secrets = tuple(sorted({s for s in _password_forms(url.password) if s}, key=len, reverse=True))
    backend = url.get_backend_name()
    connect_timeout = max(2, math.ceil(connection.statement_timeout))
    kind: _Kind
    options: dict[str, Any] = {"hide_parameters": True}
    if backend in ("postgresql", "postgres"):
        kind = "postgresql"
        if "+" not in url.drivername:
            url = url.set(drivername="postgresql+psycopg")
        if "connect_timeout" not in url.query:
            options["connect_args"] = {"connect_timeout": connect_timeout}
        options["pool_pre_ping"] = True
    elif backend in ("mysql", "mariadb"):
        kind = "mysql"
        if "+" not in url.drivername:
            url = url.set(drivername=f"{backend}+pymysql")
        if "connect_timeout" not in url.query:
            options["connect_args"] = {"connect_timeout": connect_timeout}
        options["pool_pre_ping"] = True
    elif backend == "sqlite":
        kind = "sqlite"
        options["poolclass"] = NullPool  # opening a file is cheap; nothing is shared between threads
        creator = _sqlite_creator(url, busy_timeout=connection.statement_timeout)
        if creator is not None:
            options["creator"] = creator
            url = make_url("sqlite://")
    else:
        raise _failure(name, shown, secrets, f"{backend} is not supported (postgresql, mysql, mariadb, sqlite)")
    try:
        engine = create_engine(url, **options)
    except (SQLAlchemyError, ImportError) as exc:
        raise _failure(name, shown, secrets, f"cannot create an engine: {_describe(exc)}") from None
    return _Database(name, kind, engine, shown, secrets)


def _password_forms(password: str | None) -> list[str]:
    """The password as given and as it may appear percent-encoded in the URL."""
    if not password:
        return []
    return [password, quote(password, safe=""), quote_plus(password)]


def _sqlite_creator(url: URL, *, busy_timeout: float) -> Callable[[], sqlite3.Connection] | None:
    """Opens the file read-only (`mode=ro`); None when the URL already is a `file:` URI or in memory."""
    path = url.database
    if not path or path == ":memory:" or url.query.get("uri") == "true":
        return None
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        return connection

    return connect


# -- the query (in a worker thread) -------------------------------------------------------


def _query(database: _Database, statement: SqlStatement, *, timeout: float, max_rows: int) -> _Rows:
    """Run `statement` read-only with `timeout`, fetch up to `max_rows` rows, and roll back."""
    deadline = time.monotonic() + timeout
    try:
        with database.engine.connect() as connection:
            try:
                _guard(database.kind, connection, timeout, deadline)
                result = connection.execute(_text(statement), statement.params)
                if not result.returns_rows:
                    return _Rows([], [], None, cut=False)
                columns = list(map(str, result.keys()))
                fetched = result.fetchmany(max_rows + 1)
                result.close()
            finally:
                # read-only or not, nothing a diagnostic did is ever committed
                with contextlib.suppress(SQLAlchemyError):
                    connection.rollback()
                if database.kind == "sqlite":
                    _sqlite(connection).set_progress_handler(None, 0)
    except DBAPIError as exc:
        if database.kind == "sqlite" and "interrupted" in str(exc.orig) and time.monotonic() >= deadline:
            raise database.fail(f"the query ran longer than the statement timeout of {timeout:g}s") from exc
        raise database.fail(exc) from exc
    except SQLAlchemyError as exc:
        raise database.fail(exc) from exc
    rows = [{column: _plain(value) for column, value in zip(columns, row, strict=False)} for row in fetched[:max_rows]]
    value = _plain(fetched[0][0]) if fetched and columns else None
    return _Rows(columns, rows, value, cut=len(fetched) > max_rows)


def _text(statement: SqlStatement) -> TextClause:
    """`text()` of the statement, where only render_sql's own `:hr_pN` are bind parameters.

    `text()` reads any `:name` as a parameter, also inside literals like `'{"a":1}'::jsonb`; every
    colon that is not one of ours is escaped (`\\:`) so it reaches the database as written.
    """
    sql = _TEXT_BIND.sub(lambda m: m.group(0) if m.group(1) in statement.params else "\\" + m.group(0), statement.sql)
    return text(sql)


def _guard(kind: _Kind, connection: Connection, timeout: float, deadline: float) -> None:
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
        _sqlite(connection).set_progress_handler(lambda: time.monotonic() >= deadline, _PROGRESS_STEPS)


def _sqlite(connection: Connection) -> sqlite3.Connection:
    raw = connection.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def _describe(exc: BaseException) -> str:
    """What the database (or the driver) said, on one line."""
    if isinstance(exc, StatementError) and isinstance(exc.orig, BaseException):
        exc = exc.orig  # the statement wrapper adds "(module.Class)", the SQL and a link
    args = exc.args
    if isinstance(exc, SQLAlchemyError):
        # SQLAlchemy's own errors end with a link to their documentation: the first line says it
        text_ = str(exc).strip().split("\n", 1)[0]
    elif len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text_ = f"{args[1]} (error {args[0]})"  # PyMySQL: (code, message)
    else:
        text_ = str(exc)
    text_ = " ".join(text_.split()) or type(exc).__name__
    return text_ if len(text_) <= _MESSAGE_LIMIT else text_[:_MESSAGE_LIMIT] + "…"


# -- values -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A database value as a JSON-like one: numbers, strings, lists and mappings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID | IPv4Address | IPv6Address | IPv4Network | IPv6Network):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


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
