"""Which SQL a read-only diagnostic may run: exactly one statement that reads.

The database is the first line of defence (a read-only session and transaction, one statement per
round trip; see `sql.py` and `diagnostics/database_query.py`), but some statements read the
database and still act on the server: PostgreSQL's `COPY ... TO PROGRAM` runs a shell command and
`COPY ... TO 'file'` writes one, both inside a read-only transaction; MariaDB's `SELECT ... INTO
OUTFILE` writes a file in one too. And a second statement could change the transaction the first
one was given. So before a diagnostic's query runs (and when `handrail lint` reads it), a small
lexer splits it into statements the way the database will, respecting quotes, comments and
PostgreSQL's dollar-quoting, and `read_only_refusal` says why a query may not run:

- HR310: not exactly one statement;
- HR311: the statement controls the transaction or the session (`BEGIN`, `COMMIT`, `SET`, ...);
- HR312: `COPY`, or `INTO OUTFILE` / `INTO DUMPFILE`: writes files or runs programs on the server;
- HR313: anything else that does not start with a reading keyword (`SELECT`, `WITH`, `VALUES`,
  `TABLE`, `SHOW`, `EXPLAIN`; `DESCRIBE` on MySQL, `PRAGMA` on SQLite).

Bind parameters are values, never SQL text, so the rendered query is lexed as the author wrote it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Dialect",
    "SqlRefusal",
    "Word",
    "read_only_refusal",
    "sql_statements",
    "statement_ends",
    "writing_word",
]

Dialect = Literal["postgresql", "mysql", "sqlite"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_PLAIN = re.compile(r"[^A-Za-z_;'\"`\[\-#/*$]+")
"""A run of characters that neither start a word nor open or close anything."""
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_MYSQL_EXECUTABLE = re.compile(r"/\*M?!\d*")
"""MySQL runs the text of `/*! ... */` and `/*M! ... */` comments: it is lexed as code."""

_READS: dict[Dialect | None, tuple[str, ...]] = {
    "postgresql": ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN"),
    "mysql": ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN", "DESCRIBE", "DESC"),
    "sqlite": ("SELECT", "WITH", "VALUES", "EXPLAIN", "PRAGMA"),
    None: ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "PRAGMA"),
}
"""The keywords a read starts with, per database; None: on any of them (lint)."""
_SESSION = frozenset(
    {"BEGIN", "START", "COMMIT", "ROLLBACK", "END", "ABORT", "SAVEPOINT", "RELEASE", "SET", "RESET", "DISCARD", "LOCK"}
    | {"PREPARE", "EXECUTE", "DEALLOCATE", "XA", "USE"}
)
_BLANKS = ("", " ", "\t", "\n", "\r")
_CHANGING = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "INTO"})
"""Words by which a statement that starts with a reading keyword still changes data: a data-modifying `WITH`,
`SELECT ... INTO new_table`, `FOR UPDATE` (a lock)."""
_BEFORE_PARENTHESIS = frozenset(
    {"SELECT", "WITH", "AS", "IN", "EXISTS", "VALUES", "FROM", "JOIN", "ON", "USING", "ANY", "ALL", "SOME", "OVER"}
    | {"FILTER", "WITHIN", "AND", "OR", "NOT", "WHERE", "UNION", "INTERSECT", "EXCEPT", "LATERAL", "BY", "HAVING"}
    | {"THEN", "ELSE", "WHEN", "CASE", "IS", "LIKE", "ILIKE", "BETWEEN", "ARRAY", "ROW", "CAST", "DISTINCT"}
)
"""Keywords a parenthesis may follow; any other name followed by one is a function call."""
_OPENING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*\(", re.DOTALL)
"""Blanks and comments, then `(`: what follows a function's name in a call."""
_QUOTED_CALL = re.compile(r"[\"`\]](?:\s+|/\*.*?\*/)*\(", re.DOTALL)
"""A quoted name called as a function (`"pg_terminate_backend"(pid)`); the lexer skips quoted text, so this
looks at the text itself (a string that happens to hold `"(` counts too: it errs towards writing)."""
_FILE_WORDS = frozenset({"OUTFILE", "DUMPFILE"})


@dataclass(frozen=True, slots=True)
class Word:
    """A keyword or name outside quotes and comments, and where it starts (0-based)."""

    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class SqlRefusal:
    """Why a query may not run as a read-only diagnostic: a lint code, a message, and where (0-based)."""

    code: str
    message: str
    offset: int


def sql_statements(sql: str, dialect: Dialect | None = None) -> list[list[Word]]:
    """The words of each statement in `sql`, split at `;` outside quotes and comments; empty ones dropped."""
    return [words for words in _lex(sql, dialect)[0] if words]


def statement_ends(sql: str, dialect: Dialect | None = None) -> list[int]:
    """The offsets of the `;` that end statements (outside quotes and comments)."""
    return _lex(sql, dialect)[1]


def _lex(sql: str, dialect: Dialect | None) -> tuple[list[list[Word]], list[int]]:
    statements: list[list[Word]] = [[]]
    ends: list[int] = []
    index, size = 0, len(sql)
    backslashes = dialect == "mysql"  # MySQL strings take backslash escapes; standard SQL strings do not
    executing = False  # inside a MySQL `/*! ... */`
    while index < size:
        if (plain := _PLAIN.match(sql, index)) is not None:
            index = plain.end()
            continue
        char, pair = sql[index], sql[index : index + 2]
        if char == ";":
            statements.append([])
            ends.append(index)
            index += 1
        elif char in "'\"`" or (char == "[" and dialect == "sqlite"):
            escaped = backslashes or (char == "'" and index > 0 and sql[index - 1] in "eE" and _bare(sql, index - 1))
            index = _quoted(sql, index, "]" if char == "[" else char, backslashes=escaped and char != "[")
        elif _line_comment(sql, index, dialect):
            end = sql.find("\n", index)
            index = size if end < 0 else end + 1
        elif pair == "/*":
            executable = _MYSQL_EXECUTABLE.match(sql, index) if dialect in ("mysql", None) else None
            index = executable.end() if executable else _block_comment(sql, index, nested=dialect == "postgresql")
            executing = executing or executable is not None
        elif pair == "*/" and executing:
            executing, index = False, index + 2  # the end of a MySQL executable comment, whose text was code
        elif char == "$" and dialect in ("postgresql", None) and (tag := _DOLLAR_TAG.match(sql, index)):
            if index > 0 and (sql[index - 1].isalnum() or sql[index - 1] in "_$"):
                index += 1  # part of a name like a$b
            else:
                end = sql.find(tag.group(0), tag.end())
                index = size if end < 0 else end + len(tag.group(0))
        elif (word := _WORD.match(sql, index)) is not None:
            statements[-1].append(Word(word.group(0).upper(), index))
            index = word.end()
        else:
            index += 1
    return statements, ends


def read_only_refusal(sql: str, dialect: Dialect | None = None) -> SqlRefusal | None:
    """Why `sql` may not run as a read-only diagnostic on `dialect` (None: on any of them), or None."""
    statements = sql_statements(sql, dialect)
    if len(statements) != 1:
        offset = statements[1][0].offset if len(statements) > 1 else 0
        count = f"{len(statements)} statements" if statements else "no statement"
        return SqlRefusal(
            "HR310",
            f"{count}; a database_query runs exactly one (write one diagnostic per statement)",
            offset,
        )
    words = statements[0]
    first = words[0]
    if first.text in _SESSION:
        return SqlRefusal(
            "HR311",
            f"`{first.text}` controls the transaction or the session; a database_query runs in a read-only"
            " transaction of its own that its query cannot change",
            first.offset,
        )
    if first.text == "COPY":
        return SqlRefusal(
            "HR312",
            "`COPY` writes files or runs programs on the database server; select the rows instead",
            first.offset,
        )
    for word, following in itertools.pairwise(words):
        if word.text == "INTO" and following.text in _FILE_WORDS:
            return SqlRefusal(
                "HR312",
                f"`INTO {following.text}` writes a file on the database server; select the rows instead",
                word.offset,
            )
    reads = _READS[dialect]
    if first.text not in reads:
        return SqlRefusal(
            "HR313",
            f"`{first.text}` is not a read; a database_query starts with {', '.join(reads)}"
            " (changes belong in a run_script remediation)",
            first.offset,
        )
    return None


def writing_word(sql: str, dialect: Dialect | None = None) -> Word | None:
    """The first word by which `sql` may change something when it runs in a read-write transaction, or None.

    `read_only_refusal` suffices where the database keeps the transaction read-only (a diagnostic); a
    `run_script` commits, and there a statement that starts like a read still acts through a data-modifying
    word or through any function it calls (`SELECT pg_terminate_backend(pid)`). So SQL reads only when
    `read_only_refusal` accepts it, no word of it changes data, and it calls no function at all.
    """
    refusal = read_only_refusal(sql, dialect)
    if refusal is not None:
        name = _WORD.match(sql, refusal.offset)
        return Word(name.group(0).upper() if name else "", refusal.offset)
    for word in sql_statements(sql, dialect)[0]:
        if word.text in _CHANGING:
            return word
        if word.text not in _BEFORE_PARENTHESIS and _OPENING.match(sql, word.offset + len(word.text)):
            return word
    quoted = _QUOTED_CALL.search(sql)
    return None if quoted is None else Word(quoted.group(0)[0], quoted.start())


def _line_comment(sql: str, index: int, dialect: Dialect | None) -> bool:
    """Whether a comment to the end of the line starts at `index` (`--`; MySQL wants a space after it, or `#`)."""
    if dialect == "mysql":
        return sql.startswith("#", index) or (sql.startswith("--", index) and sql[index + 2 : index + 3] in _BLANKS)
    return sql.startswith("--", index)


def _bare(sql: str, index: int) -> bool:
    """True when the character at `index` starts a word (E'...' is an escape string, name'...' is not)."""
    return index == 0 or not (sql[index - 1].isalnum() or sql[index - 1] in "_$")


def _quoted(sql: str, index: int, close: str, *, backslashes: bool) -> int:
    """The index after the quoted text opening at `index` (doubled closers and, if asked, `\\x` escape)."""
    position = index + 1
    while (end := sql.find(close, position)) >= 0:
        if backslashes:
            before = end
            while before > index + 1 and sql[before - 1] == "\\":
                before -= 1
            if (end - before) % 2:  # an odd run of backslashes escapes the closer
                position = end + 1
                continue
        if close != "]" and sql.startswith(close, end + 1):
            position = end + 2  # a doubled closer is one character of the text
            continue
        return end + 1
    return len(sql)


def _block_comment(sql: str, index: int, *, nested: bool) -> int:
    """The index after the `/* ... */` opening at `index` (PostgreSQL nests them)."""
    depth, position = 1, index + 2
    while position < len(sql) and depth:
        pair = sql[position : position + 2]
        if pair == "*/":
            depth -= 1
            position += 2
        elif nested and pair == "/*":
            depth += 1
            position += 2
        else:
            position += 1
    return position
