"""The read-only rule splits SQL where the database does: checked against SQLite's own tokenizer and PostgreSQL.

For any text made of the characters that open and close things in SQL (quotes, brackets, comment
markers, `;`, newlines), the `;` that end statements on SQLite are the ones
`sqlite3.complete_statement` says end one; and any value written as a literal, a quoted identifier or a
comment stays inside one reading statement.
"""

from __future__ import annotations

import sqlite3

from hypothesis import example, given
from hypothesis import strategies as st

from handrail.sql_check import read_only_refusal, statement_ends
from support.fuzzing import fuzz_settings, hostile_text

FRAGMENTS = st.lists(
    st.sampled_from(["'", '"', "`", "[", "]", ";", "--", "/*", "*/", "\n", " ", "x", "''", "-", "*", "/"]),
    max_size=30,
).map("".join)


def _sqlite_ends(sql: str) -> list[int]:
    """The offsets of the `;` that SQLite's own tokenizer says end a statement.

    `complete_statement` says whether the text so far ends a statement; a `;` in a comment at the
    end keeps an earlier one's answer, so a `;` ends one only if a word after it does not.
    """
    return [
        index
        for index, char in enumerate(sql)
        if char == ";"
        and sqlite3.complete_statement(sql[: index + 1])
        and not sqlite3.complete_statement(sql[: index + 1] + "x")
    ]


@fuzz_settings(400)
@given(sql=FRAGMENTS)
@example(sql="x '--' ; x")
@example(sql="x /* ; */ ; x [;] x")
@example(sql='x `;` "--"\n; x -- ;\n x')
def test_sql_statements_splits_where_sqlite_does(sql: str) -> None:
    assert statement_ends(sql, "sqlite") == _sqlite_ends(sql)


@fuzz_settings(200)
@given(value=hostile_text(60))
@example(value="'; DELETE FROM jobs; --")
@example(value="*/ ; DELETE FROM jobs; /*")
@example(value="$$; DELETE FROM jobs; $$")
def test_a_value_in_a_literal_identifier_or_comment_stays_in_one_read(value: str) -> None:
    literal = "'" + value.replace("'", "''") + "'"
    identifier = '"' + value.replace('"', '""') + '"'
    line = value.replace("\n", " ").replace("\r", " ")
    block = value.replace("*/", "* /").replace("/*", "/ *")
    for sql, dialects in [
        (f"SELECT {literal} AS {identifier}", ("postgresql", "sqlite", None)),
        (f"SELECT 1 -- {line}\n", ("postgresql", "sqlite", None)),
        (f"SELECT 1 /* {block} */", ("postgresql", "sqlite")),
        (f"SELECT $hr${value.replace('$hr$', '')}$hr$", ("postgresql",)),
    ]:
        for dialect in dialects:
            assert read_only_refusal(sql, dialect) is None, (sql, dialect)
