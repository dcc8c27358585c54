"""SQL planned on its connection: `EXPLAIN` in a read-only transaction that is rolled back; nothing is executed.

Each statement is planned on its own (`EXPLAIN QUERY PLAN` on SQLite), with every `{{ … }}` a bind
parameter holding a placeholder value, on the read-only engines `sql.py` opens for diagnostics
(PostgreSQL sessions start `default_transaction_read_only`, SQLite files open `mode=ro`). The planner
resolves every table, column and function, so a missing one fails here with the server's message.
Statements no `EXPLAIN` takes (DDL, `SET`, `VACUUM`) are skipped; in a `run_script` script a
statement that reads what an earlier one of the script creates fails to plan: the message says so.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from handrail.check.base import Finding, SqlPlan, Unreachable
from handrail.check.subjects import PLACEHOLDER_CONTEXT
from handrail.errors import TemplateError
from handrail.runbook.template import render_sql, sql_skeleton
from handrail.sql import Database, DatabaseConnection, Databases, DatabaseSetupError, bind_text, describe_error
from handrail.sql_check import sql_statements, statement_ends

__all__ = ["DatabaseChecker"]

_EXPLAINABLE = frozenset({"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE", "REPLACE"})
_QUOTED_NAME = re.compile(r'"([^"]+)"|\'([^\']+)\'|: ([A-Za-z_][\w.]*)$')


class DatabaseChecker:
    """Checks `SqlPlan` subjects on the configured database connections."""

    def __init__(self, connections: Mapping[str, DatabaseConnection]) -> None:
        self._connections = connections
        self._databases = Databases(read_only=True)

    async def check(self, subject: SqlPlan) -> Sequence[Finding]:
        connection = self._connections.get(subject.database)
        if connection is None:
            return [
                Finding(
                    "HR607",
                    f"no database connection '{subject.database}' is configured (`databases:` in handrail.yaml)",
                )
            ]
        try:
            database = self._databases.get(subject.database, connection)
        except DatabaseSetupError as exc:
            raise Unreachable(f"database '{subject.database}'", str(exc)) from None
        found = []
        for start, source in _statements(subject.sql, database):
            finding = await asyncio.to_thread(_plan, database, source)
            if finding is not None:
                offset = start + (finding.offset or 0)
                found.append(Finding(finding.code, finding.message, offset, finding.token))
        return found

    async def aclose(self) -> None:
        await self._databases.aclose()


def _statements(sql: str, database: Database) -> list[tuple[int, str]]:
    """(offset, source) of each statement an `EXPLAIN` takes, placeholders and all."""
    skeleton = sql_skeleton(sql)
    bounds = [0, *(end + 1 for end in statement_ends(skeleton, database.kind)), len(sql)]
    found = []
    for start, end in itertools.pairwise(bounds):
        words = sql_statements(skeleton[start:end], database.kind)
        if words and words[0][0].text.upper() in _EXPLAINABLE:
            found.append((start, sql[start:end].rstrip().removesuffix(";")))
    return found


def _plan(database: Database, source: str) -> Finding | None:
    """Plan one statement and roll back; a finding when it does not plan, `Unreachable` when no connection opens."""
    where = f"database '{database.name}' ({database.shown})"
    try:
        statement = render_sql(source, PLACEHOLDER_CONTEXT)
    except TemplateError as exc:  # lint reports a placeholder it cannot bind
        return Finding("HR605", f"the SQL cannot be rendered for {where}: {exc}")
    prefix = "EXPLAIN QUERY PLAN " if database.kind == "sqlite" else "EXPLAIN "
    clause = bind_text(statement)
    try:
        connection = database.engine.connect()
    except SQLAlchemyError as exc:
        raise Unreachable(where, database.explain(exc).removeprefix(f"{where}: ")) from None
    try:
        with connection:
            try:
                connection.execute(text(prefix + clause.text), statement.params)
            finally:
                connection.rollback()
    except SQLAlchemyError as exc:
        message = database.explain(exc).removeprefix(f"{where}: ")
        offset, token = _error_place(exc, source, len(prefix), bool(statement.params))
        return Finding("HR605", f"{where} cannot plan the SQL: {message}", offset, token)
    return None


def _error_place(exc: SQLAlchemyError, source: str, prefix: int, bound: bool) -> tuple[int | None, str | None]:
    """Where in `source` the server says the error is: the name it quotes, else its position (PostgreSQL)."""
    match = _QUOTED_NAME.search(describe_error(exc))
    if match is not None:
        name = next(group for group in match.groups() if group).rsplit(".", 1)[-1]
        found = re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", source, re.IGNORECASE)
        if found is not None:
            return found.start(), found.group(0)
    position = _statement_position(exc)
    if position is not None and not bound and 0 <= position - 1 - prefix < len(source):
        offset = position - 1 - prefix
        word = re.match(r"[\w$.]+", source[offset:])
        return offset, word.group(0) if word else None
    return None, None


def _statement_position(exc: SQLAlchemyError) -> int | None:
    original: Any = exc.orig if isinstance(exc, DBAPIError) else None
    position = getattr(getattr(original, "diag", None), "statement_position", None)
    return int(position) if isinstance(position, str) and position.isdigit() else None
