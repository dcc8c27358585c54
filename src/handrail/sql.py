"""What `database_query` and `run_script` share: engines for named connections, binds, values, messages.

A connection is a SQLAlchemy URL that usually holds a password, so everything here that can end
up in a message names the database by its URL with the password hidden, and scrubs the password
(as given and percent-encoded) from what the driver said.

Drivers are normalised: `postgresql://` uses psycopg 3, `mysql://` and `mariadb://` use PyMySQL,
and SQLite files are opened through a `file:` URI (`mode=ro` for read-only use, `mode=rw` otherwise,
so a mistyped path never creates an empty database).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, Literal
from urllib.parse import quote

from pydantic import SecretStr
from pymysql.constants import CLIENT
from sqlalchemy import URL, Connection, Engine, TextClause, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from handrail.redaction import password_forms, redact
from handrail.runbook.model import Duration, StrictModel
from handrail.runbook.template import SqlStatement

__all__ = [
    "BUDGET_SHARE",
    "Database",
    "DatabaseConnection",
    "DatabaseKind",
    "DatabaseSetupError",
    "Databases",
    "Interrupt",
    "bind_text",
    "describe_error",
    "open_database",
    "plain_value",
    "sqlite_connection",
]

BUDGET_SHARE = 0.9
"""The share of a step's timeout a statement may take, so the database's own message arrives first."""


class DatabaseConnection(StrictModel):
    """A database to query: a SQLAlchemy URL (postgresql://, sqlite:///, mysql+pymysql://).

    The URL usually holds a password, so it is a secret: give it as `${DATABASE_URL}`.
    """

    url: SecretStr
    statement_timeout: Duration = 10.0
    """The longest one query may run, enforced by the database itself where it can."""


DatabaseKind = Literal["postgresql", "mysql", "sqlite"]
_MESSAGE_LIMIT = 500
_STOP_TIMEOUT = 5.0
"""How long stopping a statement (a cancel request, `KILL QUERY`) may take."""
_TEXT_BIND: re.Pattern[str] = TextClause._bind_params_regex
"""What `sqlalchemy.text()` takes for a bind parameter (the compiler uses the same pattern)."""


class DatabaseSetupError(Exception):
    """No engine could be made for a connection; the message names it without its password."""


@dataclass(frozen=True, slots=True)
class Database:
    """One configured connection with its engine, and how to name it without its password."""

    name: str
    kind: DatabaseKind
    engine: Engine
    shown: str
    """The URL with the password hidden."""
    secrets: tuple[str, ...]

    def explain(self, exc: BaseException | str) -> str:
        """`database 'x' (url): what went wrong`, without the password."""
        return _explain(self.name, self.shown, self.secrets, exc)


class Databases:
    """The engines a probe or an action opened: one per connection name, made on first use, disposed together."""

    def __init__(self, *, read_only: bool) -> None:
        self.read_only = read_only
        self._open: dict[str, Database] = {}

    def get(self, name: str, connection: DatabaseConnection) -> Database:
        """The engine for `name`, made on first use; `DatabaseSetupError` when none can be made."""
        database = self._open.get(name)
        if database is None:
            database = open_database(
                name, connection.url, statement_timeout=connection.statement_timeout, read_only=self.read_only
            )
            self._open[name] = database
        return database

    async def aclose(self) -> None:
        """Dispose of every engine (and its pooled connections), off the event loop."""
        databases, self._open = list(self._open.values()), {}
        for database in databases:
            await asyncio.to_thread(database.engine.dispose)


def open_database(name: str, url: SecretStr, *, statement_timeout: float, read_only: bool) -> Database:
    """An engine for the connection `name`; with `read_only`, every session starts read-only.

    Read-only means: PostgreSQL sessions start with `default_transaction_read_only` and the
    statement timeout, and take one statement per query (see `_postgres_read_only`); MySQL sessions
    start with `SET SESSION TRANSACTION READ ONLY` and without multi-statement support; SQLite files
    are opened `mode=ro`.

    Raises:
        DatabaseSetupError: the URL is not a SQLAlchemy URL, names an unsupported database, or no
            engine can be made for it.
    """
    try:
        parsed = make_url(url.get_secret_value())
    except (ArgumentError, ValueError):
        # not chained: the library's message would quote the URL, password and all
        raise DatabaseSetupError(
            f"database {name!r}: the URL is not a SQLAlchemy URL (like postgresql://user:password@host/db)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    secrets = tuple(password_forms(parsed.password))
    backend = parsed.get_backend_name()
    connect_timeout = max(2, math.ceil(statement_timeout))
    kind: DatabaseKind
    options: dict[str, Any] = {"hide_parameters": True}
    connect_args: dict[str, Any] = {}
    if backend in ("postgresql", "postgres"):
        kind = "postgresql"
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
        if read_only:
            connect_args.update(_postgres_read_only(parsed, statement_timeout))
        options["pool_pre_ping"] = True
    elif backend in ("mysql", "mariadb"):
        kind = "mysql"
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
        if read_only:
            # the session is read-only before any statement of ours runs; and without
            # CLIENT.MULTI_STATEMENTS (whatever the URL's client_flag asks) one query is one statement
            connect_args["init_command"] = "SET SESSION TRANSACTION READ ONLY"
            flags = int(_first(parsed.query.get("client_flag")) or 0)
            connect_args["client_flag"] = (flags | CLIENT.FOUND_ROWS) & ~CLIENT.MULTI_STATEMENTS
        options["pool_pre_ping"] = True
    elif backend == "sqlite":
        kind = "sqlite"
        options["poolclass"] = NullPool  # opening a file is cheap; nothing is shared between threads
        creator = _sqlite_creator(parsed, busy_timeout=statement_timeout, read_only=read_only)
        if creator is not None:
            options["creator"] = creator
            parsed = make_url("sqlite://")
    else:
        message = _explain(name, shown, secrets, f"{backend} is not supported (postgresql, mysql, mariadb, sqlite)")
        raise DatabaseSetupError(message)
    if connect_args:
        options["connect_args"] = connect_args
    try:
        engine = create_engine(parsed, **options)
    except (SQLAlchemyError, ImportError) as exc:
        raise DatabaseSetupError(
            _explain(name, shown, secrets, f"cannot create an engine: {describe_error(exc)}")
        ) from None
    return Database(name, kind, engine, shown, secrets)


def _postgres_read_only(url: URL, statement_timeout: float) -> dict[str, Any]:
    """psycopg connect arguments for a session that is read-only and one statement per query.

    `default_transaction_read_only` and `statement_timeout` are set when the session starts, so
    they hold before any statement runs; `prepare_threshold=0` sends every query with the extended
    protocol (Parse/Bind/Execute), where the server refuses more than one statement.
    """
    given = " ".join(_all(url.query.get("options")))
    ours = f"-c default_transaction_read_only=on -c statement_timeout={max(1, round(statement_timeout * 1000))}"
    return {"prepare_threshold": 0, "options": f"{given} {ours}".strip()}


def _all(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def _first(value: str | tuple[str, ...] | None) -> str | None:
    values = _all(value)
    return values[-1] if values else None


class Interrupt:
    """Stops the statement running on a connection, from any thread: the client's half of a timeout.

    The database enforces a statement timeout of its own, but a statement can sometimes switch it
    off (PostgreSQL evaluates `set_config('statement_timeout', '0', true)` in a subquery before the
    timer is armed for good); the client's deadline holds whatever the SQL does. `arm` is called
    in the worker thread once the connection is open, `disarm` before it is given back; `fire`
    stops the statement (PostgreSQL's cancel request, MySQL's `KILL QUERY` from another
    connection, SQLite's `interrupt()`), and a connection whose statement was stopped is
    invalidated, never reused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._fired = False

    @property
    def fired(self) -> bool:
        return self._fired

    def arm(self, database: Database, connection: Connection) -> bool:
        """Know how to stop what `connection` runs; False when `fire` came first (run nothing then)."""
        stop = _stopper(database, connection)
        with self._lock:
            self._stop = stop
            return not self._fired

    def disarm(self) -> None:
        """Forget the connection: after this returns, `fire` never touches it."""
        with self._lock:
            self._stop = None

    def fire(self) -> None:
        """Stop the statement now; the stopping runs in a thread of its own (it takes a round trip)."""
        with self._lock:
            self._fired = True
        threading.Thread(target=self._run, name="handrail-sql-interrupt", daemon=True).start()

    def _run(self) -> None:
        # holding the lock while stopping: disarm waits, so a stop never reaches a reused connection
        with self._lock:
            if self._stop is not None:
                with contextlib.suppress(Exception):  # the statement may have ended meanwhile
                    self._stop()
                self._stop = None


def _stopper(database: Database, connection: Connection) -> Callable[[], None]:
    raw: Any = connection.connection.dbapi_connection
    if database.kind == "postgresql":
        if hasattr(raw, "cancel_safe"):  # psycopg >= 3.2; cancel() blocks on the network without a timeout
            return lambda: raw.cancel_safe(timeout=_STOP_TIMEOUT)
        return lambda: raw.cancel()
    if database.kind == "mysql":
        thread_id = int(raw.thread_id())

        def kill() -> None:
            with database.engine.connect() as other:
                other.exec_driver_sql(f"KILL QUERY {thread_id}")

        return kill
    return lambda: raw.interrupt()


def bind_text(statement: SqlStatement) -> TextClause:
    """`text()` of the statement, where only render_sql's own `:hr_pN` are bind parameters.

    `text()` reads any `:name` as a parameter, also inside literals like `'{"a":1}'::jsonb`; every
    colon that is not one of ours is escaped (`\\:`) so it reaches the database as written.
    """
    sql = _TEXT_BIND.sub(lambda m: m.group(0) if m.group(1) in statement.params else "\\" + m.group(0), statement.sql)
    return text(sql)


def sqlite_connection(connection: Connection) -> sqlite3.Connection:
    """The driver connection under a SQLAlchemy connection to SQLite."""
    raw = connection.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def describe_error(exc: BaseException) -> str:
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


def plain_value(value: Any) -> Any:
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
        return {str(key): plain_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_value(item) for item in value]
    return str(value)


def _explain(name: str, shown: str, secrets: tuple[str, ...], exc: BaseException | str) -> str:
    message = f"database {name!r} ({shown}): {exc if isinstance(exc, str) else describe_error(exc)}"
    return redact(message, secrets)


def _sqlite_creator(url: URL, *, busy_timeout: float, read_only: bool) -> Callable[[], sqlite3.Connection] | None:
    """Opens the file (`mode=ro` or `mode=rw`); None when the URL already is a `file:` URI or in memory."""
    path = url.database
    if not path or path == ":memory:" or url.query.get("uri") == "true":
        return None
    uri = f"file:{quote(os.path.abspath(path))}?mode={'ro' if read_only else 'rw'}"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
        if read_only:
            connection.execute("PRAGMA query_only = ON")
        return connection

    return connect
