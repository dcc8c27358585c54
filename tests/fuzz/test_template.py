"""Alert labels are attacker-controlled: for any label value, each renderer changes nothing but the value.

tests/runbook/test_template.py pins six hostile values per renderer; this generalises it to any
text (newlines, quotes of every kind, backslashes, NUL, unicode, very long), always including the
payloads of the security pass as explicit examples, and checks each value against what the
receiving side will read: the PromQL string literal Prometheus decodes (double, single and
backtick quotes; RE2 regex matchers), the words `/bin/sh` prints, the row SQLite returns for the
bind parameter (and the table a `'; DROP` would have dropped), the path segment an HTTP server
decodes, the argv a program receives.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from urllib.parse import unquote

import httpx
import pytest
import re2
from hypothesis import example, given
from hypothesis import strategies as st

from handrail.errors import TemplateError
from handrail.runbook.template import render_argv, render_promql, render_shell, render_sql, render_url
from support.fuzzing import HOSTILE, fuzz_settings, hostile_text

values = hostile_text(60)
PAYLOADS = [
    '"} or vector(1)',
    "'} or vector(1)",
    "`} or vector(1)",
    "x'; DROP TABLE jobs; --",
    "$(touch /tmp/handrail-pwned); echo",
    "a;b\nc\r\n--",
    "../../../etc/passwd",
]


def _with_payloads(test: Callable[..., None]) -> Callable[..., None]:
    """Always try the security pass's payloads too, whatever Hypothesis generates."""
    for payload in PAYLOADS + HOSTILE:
        test = example(payload)(test)
    return test


def _context(value: str) -> dict[str, object]:
    return {"labels": {"v": value}, "annotations": {}}


def _go_unquote(literal: str, quote: str) -> str:
    """What Prometheus (Go's strconv.Unquote) reads from the inside of a PromQL string literal."""
    if quote == "`":
        return literal
    escapes = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}
    out, index = [], 0
    while index < len(literal):
        char = literal[index]
        assert char != quote, f"unescaped {quote} ends the string early: {literal!r}"
        assert char != "\n", f"a raw newline inside a string: {literal!r}"
        if char == "\\":
            out.append(escapes[literal[index + 1]])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


@pytest.mark.parametrize("quote", ['"', "'", "`"])
@fuzz_settings(150)
@given(value=values)
@_with_payloads
def test_promql_string_literals_hold_exactly_the_value(quote: str, value: str) -> None:
    try:
        query = render_promql(f"up{{pod={quote}{{{{ labels.v }}}}{quote}, job={quote}api{quote}}}", _context(value))
    except TemplateError:
        assert quote == "`"  # a raw string cannot hold a backtick: refused, never broken out of
        assert "`" in value
        return
    prefix, suffix = f"up{{pod={quote}", f"{quote}, job={quote}api{quote}}}"
    assert query.startswith(prefix)
    assert query.endswith(suffix)
    assert _go_unquote(query[len(prefix) : -len(suffix)], quote) == value


@fuzz_settings(150)
@given(value=values)
@_with_payloads
def test_promql_regex_matchers_match_the_value_literally(value: str) -> None:
    query = render_promql('up{pod=~"{{ labels.v }}"}', _context(value))
    pattern = _go_unquote(query[len('up{pod=~"') : -len('"}')], '"')
    options = re2.Options()
    options.dot_nl = True
    compiled = re2.compile(f"^(?:{pattern})$", options)  # Prometheus anchors matchers
    assert compiled.search(value) is not None
    assert compiled.search(value + "x") is None


@fuzz_settings(150)
@given(value=values)
@_with_payloads
def test_promql_outside_a_string_takes_only_a_name_number_or_duration(value: str) -> None:
    try:
        query = render_promql("rate(errors[{{ labels.v }}])", _context(value))
    except TemplateError:
        assert re2.fullmatch(r"[A-Za-z0-9_:.]+", value) is None
        return
    assert query == f"rate(errors[{value}])"
    assert re2.fullmatch(r"[A-Za-z0-9_:.]+", value) is not None


@fuzz_settings(60)
@given(value=values.filter(lambda v: "\x00" not in v))  # no process takes a NUL (the probe says so: tested)
@_with_payloads
def test_shell_prints_the_value_as_data(value: str) -> None:
    if "\x00" in value:
        return
    script = render_shell('printf "%s|" {{ labels.v }} "in quotes: {{ labels.v }}"', _context(value))
    assert script.script == 'printf "%s|" "${HANDRAIL_V1}" "in quotes: ${HANDRAIL_V2}"'  # never script text
    assert script.env == {"HANDRAIL_V1": value, "HANDRAIL_V2": value}
    result = subprocess.run(["/bin/sh", "-c", script.script], env=script.env, capture_output=True, check=True)
    assert result.stdout.decode("utf-8", "surrogateescape") == f"{value}|in quotes: {value}|"


@fuzz_settings(150)
@given(value=values)
@_with_payloads
def test_sql_binds_the_value_and_drops_nothing(value: str) -> None:
    statement = render_sql("SELECT name FROM jobs WHERE name = {{ labels.v }} OR {{ labels.v }} = ''", _context(value))
    assert statement.sql == "SELECT name FROM jobs WHERE name = :hr_p1 OR :hr_p2 = ''"
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE jobs (name TEXT)")
        connection.execute("INSERT INTO jobs VALUES (?)", (value,))
        rows = connection.execute(statement.sql, statement.params).fetchall()
        assert rows == [(value,)]
        assert connection.execute("SELECT count(*) FROM jobs").fetchone() == (1,)  # the table is still there


@fuzz_settings(150)
@given(value=values)
@_with_payloads
def test_url_values_stay_one_path_segment_on_the_same_host(value: str) -> None:
    url = httpx.URL(render_url("https://svc.internal:8443/health/{{ labels.v }}/status?x=1", _context(value)))
    assert (url.host, url.port, url.query) == ("svc.internal", 8443, b"x=1")
    segments = url.raw_path.decode("ascii").split("?")[0].split("/")
    assert segments[:2] == ["", "health"]
    assert segments[3:] == ["status"]
    assert unquote(segments[2], errors="surrogatepass") == value


URL_TEXT = st.text(alphabet="hs:/?#@[]%.:0123456789ptx\\", max_size=24)
URL_START = st.tuples(st.sampled_from(["http://", "https://", "http://u:p@", "http://[::1]", ""]), URL_TEXT).map(
    "".join
)


@fuzz_settings(200)
@given(before=URL_START, after=URL_TEXT, value=values)
@example(before="http://", after=":8080/check", value="169.254.169.254")
@example(before="http://svc", after="/", value=".evil.example")
@example(before="http://svc:", after="/", value="1@evil")
def test_a_url_template_that_renders_goes_where_its_own_text_says_whatever_the_value(
    before: str, after: str, value: str
) -> None:
    template = f"{before}{{{{ labels.v }}}}{after}"
    try:
        rendered = httpx.URL(render_url(template, _context(value)))
        plain = httpx.URL(render_url(template, _context("x")))
    except (TemplateError, httpx.InvalidURL):
        return  # refused, or not a URL whatever the value: either way no request goes anywhere
    assert (rendered.scheme, rendered.userinfo, rendered.host, rendered.port) == (
        plain.scheme,
        plain.userinfo,
        plain.host,
        plain.port,
    )


@fuzz_settings(100)
@given(value=values)
@_with_payloads
def test_argv_keeps_the_value_in_one_argument(value: str) -> None:
    assert render_argv(["kubectl", "-n", "{{ labels.v }}", "get", "pods"], _context(value)) == [
        "kubectl",
        "-n",
        value,
        "get",
        "pods",
    ]
