"""The function table: names, argument counts, null in gives null out, and RE2 patterns."""

from __future__ import annotations

import pytest

from handrail.errors import ExpressionEvaluationError, ExpressionSyntaxError
from handrail.expression import FUNCTIONS, MAX_REGEX_LENGTH, parse
from handrail.expression.function import arity_problem, call_function, regex_problem

ARGUMENT_COUNTS = {
    "len": (1, 1),
    "count": (1, 2),
    "sum": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "avg": (1, 1),
    "any": (1, 1),
    "all": (1, 1),
    "abs": (1, 1),
    "round": (1, 2),
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "matches": (2, 2),
    "lower": (1, 1),
    "upper": (1, 1),
    "number": (1, 1),
}


def test_function_set_is_exactly_the_documented_one() -> None:
    assert frozenset(ARGUMENT_COUNTS) == FUNCTIONS


@pytest.mark.parametrize("name", sorted(ARGUMENT_COUNTS))
def test_function_accepts_its_argument_counts_and_refuses_others(name: str) -> None:
    least, most = ARGUMENT_COUNTS[name]
    assert arity_problem(name, least) is None
    assert arity_problem(name, 5 if most is None else most) is None
    assert arity_problem(name, least - 1) is not None
    if most is not None:
        assert arity_problem(name, most + 1) is not None


@pytest.mark.parametrize("name", sorted(ARGUMENT_COUNTS))
def test_function_given_null_returns_null(name: str) -> None:
    least, _ = ARGUMENT_COUNTS[name]
    assert call_function(name, [None] * least, column=1) is None


@pytest.mark.parametrize("name", sorted(ARGUMENT_COUNTS))
def test_wrong_argument_count_is_a_syntax_error_at_the_function_name(name: str) -> None:
    least, _ = ARGUMENT_COUNTS[name]
    arguments = ", ".join(["x"] * (least - 1))
    with pytest.raises(ExpressionSyntaxError, match=rf"{name}\(\) takes") as caught:
        parse(f"value > 1 || {name}({arguments})")
    assert caught.value.column == 14


def test_min_and_max_take_two_or_more_arguments() -> None:
    assert parse("max(1, 9, 4, 2, 8)").evaluate({}) == 9
    assert parse("min(1, 9, 4, 2, 8)").evaluate({}) == 1


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        pytest.param("^ok$", None, id="valid"),
        pytest.param("a" * MAX_REGEX_LENGTH, None, id="at-the-length-limit"),
        pytest.param("a" * (MAX_REGEX_LENGTH + 1), "the limit is 1000", id="too-long"),
        pytest.param("[", "invalid regular expression (missing ]: [)", id="unbalanced"),
        pytest.param("(?<=a)b", "invalid regular expression", id="lookbehind"),
        pytest.param("\ud800", "not valid Unicode", id="lone-surrogate"),
    ],
)
def test_regex_problem_explains_unusable_patterns(pattern: str, fragment: str | None) -> None:
    problem = regex_problem(pattern)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None
        assert fragment in problem


def test_matches_refuses_text_that_is_not_valid_unicode() -> None:
    with pytest.raises(ExpressionEvaluationError, match="not valid Unicode"):
        parse("matches(x, 'a')").evaluate({"x": "\ud800"})


def test_matches_is_case_sensitive_unless_the_pattern_says_otherwise() -> None:
    assert parse("matches('Payment', 'payment')").evaluate({}) is False
    assert parse("matches('Payment', '(?i)payment')").evaluate({}) is True
