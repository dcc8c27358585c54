"""Alert labels are attacker-controlled: each renderer changes nothing but the value."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from handrail.errors import TemplateError
from handrail.runbook.template import (
    parse_template,
    render_address,
    render_argv,
    render_promql,
    render_shell,
    render_sql,
    render_text,
    render_url,
    sql_skeleton,
)
from handrail.sql import bind_text

HOSTILE = ['"}) or vector(1) #', "; touch /tmp/handrail-pwned", "' OR 1=1 --", "../../etc/passwd", "$(id)", "`id`"]


def _context(value: object) -> dict[str, object]:
    return {"labels": {"v": value, "namespace": "production"}, "annotations": {}}


def test_plain_text_inserts_values_as_they_are() -> None:
    assert render_text("ns={{ labels.namespace }}", _context("x")) == "ns=production"


def test_numbers_and_bools_render_plainly() -> None:
    assert render_text("{{ labels.v }}", _context(3.0)) == "3"
    assert render_text("{{ labels.v }}", _context(2.5)) == "2.5"
    assert render_text("{{ labels.v }}", _context(True)) == "true"


def test_missing_label_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateError, match="has no value"):
        render_text("{{ labels.nope }}", _context("x"))


def test_unclosed_placeholder_is_an_error() -> None:
    with pytest.raises(TemplateError, match="never closed"):
        parse_template("up{job='{{ labels.job'}")


@pytest.mark.parametrize("value", HOSTILE)
def test_promql_string_escaping_keeps_the_value_inside_the_string(value: str) -> None:
    query = render_promql('up{namespace="{{ labels.v }}"}', _context(value))
    inner = query[len('up{namespace="') : -len('"}')]
    # undo PromQL (Go) string escaping: what Prometheus will see as the label value
    assert inner.encode().decode("unicode_escape") == value


def test_promql_regex_matchers_escape_regex_syntax_too() -> None:
    assert render_promql('up{pod=~"{{ labels.v }}-.*"}', _context("a.*|b")) == 'up{pod=~"a\\\\.\\\\*\\\\|b-.*"}'


def test_promql_outside_a_string_takes_only_names_numbers_and_durations() -> None:
    assert render_promql("rate(x[{{ labels.v }}])", _context("5m")) == "rate(x[5m])"
    with pytest.raises(TemplateError, match="outside a PromQL string"):
        render_promql("rate(x[{{ labels.v }}])", _context("5m]) or vector(1"))


@pytest.mark.parametrize("value", HOSTILE)
def test_shell_values_travel_in_the_environment_and_run_as_data(value: str, tmp_path: object) -> None:
    script = render_shell('printf "%s|" {{ labels.v }} "in quotes: {{ labels.v }}"', _context(value))
    assert value not in script.script
    result = subprocess.run(
        ["/bin/sh", "-c", script.script], env=script.env, capture_output=True, text=True, check=True
    )
    assert result.stdout == f"{value}|in quotes: {value}|"


def test_shell_refuses_placeholders_inside_single_quotes() -> None:
    with pytest.raises(TemplateError, match="single quotes"):
        render_shell("echo '{{ labels.v }}'", _context("x"))


def test_argv_keeps_each_value_in_one_argument() -> None:
    assert render_argv(["kubectl", "-n", "{{ labels.v }}", "get", "pods"], _context("a b; rm -rf /")) == [
        "kubectl",
        "-n",
        "a b; rm -rf /",
        "get",
        "pods",
    ]


@pytest.mark.parametrize("value", HOSTILE)
def test_sql_values_become_bind_parameters(value: str) -> None:
    statement = render_sql("SELECT * FROM t WHERE name = {{ labels.v }}", _context(value))
    assert statement.sql == "SELECT * FROM t WHERE name = :hr_p1"
    assert statement.params["hr_p1"] == value


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("SELECT '{{ labels.v }}'", id="string-literal"),
        pytest.param('SELECT "{{ labels.v }}"', id="quoted-identifier"),
        pytest.param("SELECT 1 -- {{ labels.v }}", id="line-comment"),
        pytest.param("SELECT 1 /* {{ labels.v }} */", id="block-comment"),
        pytest.param("DO $$ {{ labels.v }} $$", id="dollar-body"),
    ],
)
def test_sql_refuses_placeholders_inside_quotes_and_comments(sql: str) -> None:
    with pytest.raises(TemplateError):
        render_sql(sql, _context("x"))


@pytest.mark.parametrize(
    ("sql", "rendered"),
    [
        pytest.param("SELECT {{ labels.v }}::text", "SELECT (:hr_p1)::text", id="cast"),
        pytest.param("SELECT a[{{ labels.v }}:{{ labels.v }}]", "SELECT a[(:hr_p1):(:hr_p2)]", id="slice"),
        pytest.param("SELECT x::text = {{ labels.v }}", "SELECT x::text = :hr_p1", id="untouched"),
    ],
)
def test_sql_bind_parameters_stay_binds_next_to_colons(sql: str, rendered: str) -> None:
    statement = render_sql(sql, _context("x"))
    assert statement.sql == rendered
    # what SQLAlchemy's text() reads as binds: every one of ours, whatever touches it
    assert set(bind_text(statement).compile().params) == set(statement.params)


def test_sql_skeleton_keeps_columns_and_hides_values() -> None:
    assert sql_skeleton("SELECT {{ labels.v }}; x") == "SELECT ?             ; x"


def test_sql_doubled_quotes_do_not_confuse_the_scanner() -> None:
    assert render_sql("SELECT 'it''s' || {{ labels.v }}", _context("x")).sql == "SELECT 'it''s' || :hr_p1"


@pytest.mark.parametrize("value", [".", ".."])
def test_url_dot_segments_stay_data(value: str) -> None:
    url = render_url("http://svc/users/{{ labels.v }}/health", _context(value))
    assert httpx.URL(url).raw_path.decode().startswith("/users/%2E")


@pytest.mark.parametrize("value", HOSTILE)
def test_url_values_are_percent_encoded(value: str) -> None:
    url = render_url("http://svc/health/{{ labels.v }}?x=1", _context(value))
    tail = url[len("http://svc/health/") : -len("?x=1")]
    assert "/" not in tail
    assert "?" not in tail
    assert '"' not in tail


@pytest.mark.parametrize(
    ("url", "part"),
    [
        pytest.param("{{ labels.v }}://svc/health", "scheme", id="scheme"),
        pytest.param("http://{{ labels.v }}@svc/health", "userinfo", id="user"),
        pytest.param("http://user:{{ labels.v }}@svc/health", "userinfo", id="password"),
        pytest.param("http://{{ labels.v }}:8080/check", "host", id="host"),
        pytest.param("http://svc{{ labels.v }}/check", "host", id="host-suffix"),
        pytest.param("http://[{{ labels.v }}]/check", "host", id="ipv6-host"),
        pytest.param("http://svc:{{ labels.v }}/check", "port", id="port"),
        pytest.param("http://[::1]:{{ labels.v }}/check", "port", id="ipv6-port"),
        pytest.param("http://{{ labels.v }}", "host", id="no-path"),
    ],
)
def test_url_refuses_a_placeholder_that_would_choose_where_the_request_goes(url: str, part: str) -> None:
    with pytest.raises(TemplateError, match=f"in the URL's {part}"):
        render_url(url, _context("169.254.169.254"))


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://svc/{{ labels.v }}", id="path"),
        pytest.param("http://svc:8080/a/{{ labels.v }}/b", id="path-after-port"),
        pytest.param("http://svc?q={{ labels.v }}", id="query-without-path"),
        pytest.param("http://svc/a?q={{ labels.v }}&r={{ labels.v }}", id="query"),
        pytest.param("http://svc#{{ labels.v }}", id="fragment"),
    ],
)
def test_url_keeps_the_configured_origin_whatever_the_value(url: str) -> None:
    rendered = httpx.URL(render_url(url, _context("evil.example:1@169.254.169.254/x")))
    origin = (rendered.scheme, rendered.host, rendered.port, rendered.userinfo)
    assert origin == ("http", "svc", httpx.URL(url).port, b"")


def test_url_template_may_hold_any_literal_character_before_a_placeholder() -> None:
    url = render_url("http://svc/\ue000/{{ labels.v }}", _context("x"))
    assert url == "http://svc/\ue000/x"


@pytest.mark.parametrize(
    ("address", "part"),
    [
        pytest.param("{{ labels.v }}:443", "host", id="host"),
        pytest.param("db-{{ labels.v }}.internal:443", "host", id="host-part"),
        pytest.param("[{{ labels.v }}]:443", "host", id="ipv6-host"),
        pytest.param("db.internal:{{ labels.v }}", "port", id="port"),
        pytest.param("[::1]:{{ labels.v }}", "port", id="ipv6-port"),
        pytest.param("{{ labels.v }}", "host", id="whole"),
        pytest.param("{{ labels.v }}.example.com", "host", id="server-name"),
    ],
)
def test_address_refuses_any_placeholder_before_reading_a_value(address: str, part: str) -> None:
    # the label is missing: a refusal that read it would say "has no value" instead
    with pytest.raises(TemplateError, match=f"column \\d+: .* is in the address's {part}: alert labels never"):
        render_address(address, {"labels": {}, "annotations": {}})


def test_address_without_a_placeholder_is_used_as_written() -> None:
    assert render_address("[::1]:8443", _context("169.254.169.254")) == "[::1]:8443"
