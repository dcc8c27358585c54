"""describe (English for `handrail explain`) and render (source form)."""

from __future__ import annotations

import pytest

from handrail.expression import describe, parse
from handrail.expression.description import quote, render


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("value >= 70 && value < 90", "value is at least 70 and value is below 90", id="range"),
        pytest.param("value < 1", "value is below 1", id="below"),
        pytest.param("x <= 1", "x is at most 1", id="at-most"),
        pytest.param("x > 1.5", "x is above 1.5", id="above"),
        pytest.param("x >= 2", "x is at least 2", id="at-least"),
        pytest.param("x == 1", "x is 1", id="equal"),
        pytest.param("ready_count === 0", "ready_count is 0", id="strict-equal"),
        pytest.param("x != 'a'", "x is not 'a'", id="not-equal"),
        pytest.param("x !== 'a'", "x is not 'a'", id="strict-not-equal"),
        pytest.param("x == null", "x is missing", id="equal-null-is-missing"),
        pytest.param("null === x", "x is missing", id="null-on-the-left"),
        pytest.param("x != null", "x is present", id="not-equal-null-is-present"),
        pytest.param("all_healthy", "all_healthy", id="bare-name"),
        pytest.param("!x", "not x", id="not"),
        pytest.param("not x", "not x", id="keyword-not"),
        pytest.param("a || b", "a or b", id="or"),
        pytest.param("a or b and c", "a or b and c", id="precedence-needs-no-parentheses"),
        pytest.param("(a || b) && c", "(a or b) and c", id="parentheses-kept-where-needed"),
        pytest.param("a && (b && c)", "a and (b and c)", id="right-grouping-kept"),
        pytest.param("!(a && b)", "not (a and b)", id="not-of-group"),
        pytest.param("!(a < b)", "not (a is below b)", id="not-of-comparison"),
        pytest.param("!a < b", "not (a is below b)", id="not-binds-looser-than-comparison"),
        pytest.param("(a == b) == false", "(a is b) is false", id="comparison-of-comparison"),
        pytest.param("sum(values) > 10", "sum(values) is above 10", id="function-as-written"),
        pytest.param("any_slow > 1000ms", "any_slow is above 1000ms", id="duration-as-written"),
        pytest.param("ratio < 1e3", "ratio is below 1e3", id="number-as-written"),
        pytest.param('name == "x"', "name is 'x'", id="string-in-single-quotes"),
        pytest.param(r"name == 'it\'s'", r"name is 'it\'s'", id="quote-escaped"),
        pytest.param("x in [1, 2]", "x is in [1, 2]", id="in"),
        pytest.param("x not in y", "x is not in y", id="not-in"),
        pytest.param("(a + b) * 2 > c", "(a + b) * 2 is above c", id="arithmetic-parentheses"),
        pytest.param("a - (b - c) == -(d)", "a - (b - c) is -d", id="subtraction-grouping"),
        pytest.param("series[0].labels.pod == 'x'", "series[0].labels.pod is 'x'", id="path"),
        pytest.param("labels['app'] == 'x'", "labels['app'] is 'x'", id="string-index"),
        pytest.param("true", "true", id="literal"),
    ],
)
def test_describe_renders_english(source: str, expected: str) -> None:
    assert describe(parse(source)) == expected


def diagnostic_titles(path: tuple[str | int, ...]) -> str | None:
    """Render diagnostic fields the way `handrail explain` does; None for anything else."""
    if path == ("diagnostics", "check_db", "status"):
        return "Database Connection Pool status"
    return None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "diagnostics.check_db.status === 'critical'",
            "Database Connection Pool status is 'critical'",
            id="custom-name",
        ),
        pytest.param(
            "diagnostics.check_db.status === 'critical' && value > 1",
            "Database Connection Pool status is 'critical' and value is above 1",
            id="default-when-renderer-returns-none",
        ),
        pytest.param(
            "diagnostics.check_db.status == null",
            "Database Connection Pool status is missing",
            id="custom-name-missing",
        ),
        pytest.param(
            "count(diagnostics.check_db.status) > 0",
            "count(diagnostics.check_db.status) is above 0",
            id="functions-stay-as-written",
        ),
    ],
)
def test_describe_lets_the_caller_name_references(source: str, expected: str) -> None:
    assert describe(parse(source), name=diagnostic_titles) == expected


def test_describe_passes_whole_static_paths_to_the_renderer() -> None:
    seen: list[tuple[str | int, ...]] = []

    def remember(path: tuple[str | int, ...]) -> None:
        seen.append(path)

    describe(parse("series[0].labels.pod == x[y] && z"), name=remember)
    assert seen == [("series", 0, "labels", "pod"), ("x",), ("y",), ("z",)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("a and b or not c", "a && b || !c", id="canonical-logic"),
        pytest.param("a === 1", "a == 1", id="canonical-equality"),
        pytest.param("((a))", "a", id="redundant-parentheses-dropped"),
        pytest.param("(a || b) && c", "(a || b) && c", id="needed-parentheses-kept"),
        pytest.param("!(a && b)", "!(a && b)", id="not-of-group"),
        pytest.param("!a == b", "!a == b", id="not-of-comparison-needs-none"),
        pytest.param("- -x", "--x", id="double-negation"),
        pytest.param("(-x).y", "(-x).y", id="postfix-on-negation"),
        pytest.param("max(a,b)", "max(a, b)", id="call-spacing"),
        pytest.param('["a",1,]', "['a', 1]", id="list"),
        pytest.param("a not in b", "a not in b", id="not-in"),
    ],
)
def test_render_writes_canonical_source(source: str, expected: str) -> None:
    assert render(parse(source).root) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("plain", id="plain"),
        pytest.param("it's", id="single-quote"),
        pytest.param('say "hi"', id="double-quote"),
        pytest.param("back\\slash", id="backslash"),
        pytest.param("line\nbreak\ttab", id="control"),
        pytest.param("\\d+", id="regex"),
    ],
)
def test_quoted_string_reads_back_the_same(value: str) -> None:
    assert parse(quote(value)).evaluate({}) == value
