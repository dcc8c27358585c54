"""The read-only rule splits SQL the way the database does: quotes, comments and dollar-quoting respected."""

from __future__ import annotations

import pytest

from handrail.sql_check import Dialect, read_only_refusal, sql_statements, writing_word

DIALECTS: list[Dialect | None] = ["postgresql", "mysql", "sqlite", None]


@pytest.mark.parametrize(
    ("sql", "dialect", "count"),
    [
        pytest.param("SELECT 1;", None, 1, id="trailing-semicolon"),
        pytest.param("SELECT ';' AS a, 'it''s;' AS b", None, 1, id="quoted"),
        pytest.param('SELECT 1 AS "a;b"', None, 1, id="quoted-identifier"),
        pytest.param("SELECT 1 -- ; DELETE FROM t\n", None, 1, id="line-comment"),
        pytest.param("SELECT 1 /* ; DELETE FROM t */", None, 1, id="block-comment"),
        pytest.param("SELECT 1 /* /* ; */ ; */", "postgresql", 1, id="nested-comment"),
        pytest.param("SELECT $$;$$, $body$ ; $$ ; $body$", "postgresql", 1, id="dollar-quoted"),
        pytest.param("SELECT E'\\'; DELETE FROM t; '", "postgresql", 1, id="escape-string"),
        pytest.param("SELECT '\\'; DELETE FROM t", "postgresql", 2, id="backslash-is-plain-in-postgres"),
        pytest.param("SELECT '\\'; DELETE FROM t; '", "mysql", 1, id="backslash-escapes-in-mysql"),
        pytest.param("SELECT 1 # ; DELETE FROM t", "mysql", 1, id="hash-comment"),
        pytest.param("SELECT 1 --1; DELETE FROM t", "mysql", 2, id="mysql-needs-a-space-after-dashes"),
        pytest.param("SELECT 1 AS [a;b]", "sqlite", 1, id="bracket-identifier"),
        pytest.param("SELECT 1; DELETE FROM t", None, 2, id="two"),
        pytest.param(" ; -- nothing\n ;", None, 0, id="none"),
    ],
)
def test_sql_statements_splits_only_outside_quotes_and_comments(sql: str, dialect: Dialect | None, count: int) -> None:
    assert len(sql_statements(sql, dialect)) == count


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        pytest.param("SELECT 1; COMMIT; INSERT INTO canary VALUES ('x'); SELECT 1", "HR310", id="issue-commit"),
        pytest.param("SET TRANSACTION READ WRITE; INSERT INTO canary VALUES ('x'); COMMIT", "HR310", id="issue-rw"),
        pytest.param("SET LOCAL statement_timeout=0; SELECT pg_sleep(20)", "HR310", id="issue-timeout"),
        pytest.param("-- nothing at all", "HR310", id="empty"),
        pytest.param("BEGIN", "HR311", id="begin"),
        pytest.param("set statement max_statement_time=0 for select sleep(9)", "HR311", id="set-statement"),
        pytest.param("COPY (SELECT 1) TO PROGRAM 'id'", "HR312", id="copy-to-program"),
        pytest.param("SELECT * FROM t INTO OUTFILE '/tmp/x'", "HR312", id="into-outfile"),
        pytest.param("SELECT 1 INTO DUMPFILE '/tmp/x'", "HR312", id="into-dumpfile"),
        pytest.param("DELETE FROM t", "HR313", id="delete"),
        pytest.param("VACUUM INTO '/tmp/x.db'", "HR313", id="vacuum-into"),
        pytest.param("ATTACH DATABASE '/tmp/x.db' AS x", "HR313", id="attach"),
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_read_only_refusal_names_what_is_wrong(sql: str, code: str, dialect: Dialect | None) -> None:
    refusal = read_only_refusal(sql, dialect)
    assert refusal is not None
    assert refusal.code == code


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  (SELECT 1) UNION (SELECT 2);",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "VALUES (1), (2)",
        "EXPLAIN SELECT 1",
        "SELECT 'COPY; INTO OUTFILE' AS text",
        "/* COMMIT; */ SELECT 1 -- ; DELETE",
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_read_only_refusal_lets_one_read_through(sql: str, dialect: Dialect | None) -> None:
    assert read_only_refusal(sql, dialect) is None


def test_read_only_refusal_reads_mysql_executable_comments_as_code() -> None:
    sql = "SELECT 1 /*!50000 INTO OUTFILE '/tmp/x' */"
    refusal = read_only_refusal(sql, "mysql")
    assert refusal is not None
    assert (refusal.code, refusal.offset) == ("HR312", sql.index("INTO"))


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        pytest.param("PRAGMA table_info(jobs)", "sqlite", id="pragma-on-sqlite"),
        pytest.param("DESCRIBE jobs", "mysql", id="describe-on-mysql"),
        pytest.param("SHOW max_connections", "postgresql", id="show-on-postgres"),
    ],
)
def test_read_only_refusal_knows_each_databases_reads(sql: str, dialect: Dialect) -> None:
    assert read_only_refusal(sql, dialect) is None
    others = [other for other in DIALECTS if other not in (dialect, None)]
    assert any(read_only_refusal(sql, other) is not None for other in others)


def test_read_only_refusal_points_at_the_second_statement() -> None:
    sql = "SELECT 1;  DELETE FROM t"
    refusal = read_only_refusal(sql)
    assert refusal is not None
    assert refusal.offset == sql.index("DELETE")
    assert refusal.message.startswith("2 statements; a database_query runs exactly one")


@pytest.mark.parametrize(
    ("sql", "word", "offset"),
    [
        pytest.param("UPDATE t SET a = 1", "UPDATE", 0, id="not-a-read"),
        pytest.param("SELECT 1; DELETE FROM t", "DELETE", 10, id="two-statements"),
        pytest.param(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "PG_TERMINATE_BACKEND", 7, id="function"
        ),
        pytest.param("SELECT count (*) FROM t", "COUNT", 7, id="any-function-even-a-pure-one"),
        pytest.param("SELECT f/* comment */(1)", "F", 7, id="comment-before-the-parenthesis"),
        pytest.param('SELECT "pg_terminate_backend"(pid)', '"', 28, id="quoted-name"),
        pytest.param("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE", 11, id="data-modifying-with"),
        pytest.param("SELECT * INTO copy FROM t", "INTO", 9, id="select-into-a-new-table"),
        pytest.param("SELECT * FROM t FOR UPDATE", "UPDATE", 20, id="row-locks"),
    ],
)
def test_writing_word_finds_what_may_change_something_in_a_committed_transaction(
    sql: str, word: str, offset: int
) -> None:
    found = writing_word(sql)
    assert found is not None
    assert (found.text, found.offset) == (word, offset)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT a FROM t WHERE b IN (1, 2) AND EXISTS (SELECT 1 FROM u)",
        "SELECT 'pg_terminate_backend(1)' AS text",
        "SELECT CAST(a AS int) FROM (SELECT 1 AS a) AS s",
    ],
)
def test_writing_word_lets_a_plain_read_through(sql: str) -> None:
    assert writing_word(sql) is None
