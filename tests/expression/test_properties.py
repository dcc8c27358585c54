"""Properties over generated input: only the language's own errors ever escape, and render round-trips."""

from __future__ import annotations

import math
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from handrail.errors import ExpressionEvaluationError, ExpressionSyntaxError
from handrail.expression import Expression, describe, parse
from handrail.expression.description import quote, render

from .test_function import ARGUMENT_COUNTS

EXPRESSION_CHARACTERS = "abxyz_019.()[]'\"\\ !=<>&|+-*/%,eEmshdnotrulfi\n"
BINARY_OPERATORS = ["&&", "||", "and", "or", "==", "===", "!=", "<", "<=", ">", ">=", "in", "not in"]
BINARY_OPERATORS += ["+", "-", "*", "/", "%"]
NAMES = ["a", "b", "c", "d"]

atoms = st.one_of(
    st.sampled_from(NAMES),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "null", "500ms", "5m", "1.5s", "2h", "[]", "'.*'", "'^a'"]),
    st.text(max_size=5).map(quote),
)


def _call(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Generate a call of a real function with a valid number of arguments."""

    def with_arguments(name: str) -> st.SearchStrategy[str]:
        least, most = ARGUMENT_COUNTS[name]
        arguments = st.lists(inner, min_size=least, max_size=most or 3)
        return arguments.map(lambda items: f"{name}({', '.join(items)})")

    return st.sampled_from(sorted(ARGUMENT_COUNTS)).flatmap(with_arguments)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Combine smaller expressions with every kind of operator, index, field and call."""
    return st.one_of(
        st.tuples(inner, st.sampled_from(BINARY_OPERATORS), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(st.sampled_from(["!", "-", "not "]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["x", "y", "a"])).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        _call(inner),
    )


expressions = st.recursive(atoms, _extend, max_leaves=10)

plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(["x", "y", "a"]), kids, max_size=3),
    max_leaves=6,
)
contexts = st.fixed_dictionaries({"a": plain_values, "b": plain_values, "c": plain_values})


def _is_plain(value: object) -> bool:
    """Return whether `value` is a JSON-like value all the way down."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(key, str) and _is_plain(item) for key, item in value.items())
    return False


def _outcome(expression: Expression, context: Mapping[str, object]) -> str:
    """Evaluate, returning the repr of the value or the error message (NaN reprs compare equal)."""
    try:
        value = expression.evaluate(context)
    except ExpressionEvaluationError as exc:
        return f"error: {exc.message}"
    assert _is_plain(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return repr(value)


@settings(deadline=None)
@given(st.text(max_size=120) | st.text(alphabet=EXPRESSION_CHARACTERS, max_size=80))
def test_parse_returns_an_expression_or_raises_a_syntax_error(text: str) -> None:
    outcome: Expression | ExpressionSyntaxError
    try:
        outcome = parse(text)
    except ExpressionSyntaxError as exc:
        outcome = exc
    if isinstance(outcome, ExpressionSyntaxError):
        assert 1 <= outcome.column <= len(text) + 1
    else:
        assert isinstance(outcome, Expression)


@settings(deadline=None, max_examples=300)
@given(expressions, contexts)
def test_evaluation_raises_nothing_but_evaluation_errors(source: str, context: dict[str, object]) -> None:
    try:
        expression = parse(source)
    except ExpressionSyntaxError:
        return  # a generated regex literal may be invalid; that is the parser's business
    _outcome(expression, context)
    assert isinstance(describe(expression), str)
    for reference in expression.references:
        assert reference.root in NAMES


@settings(deadline=None)
@given(expressions, contexts)
def test_rendered_source_parses_back_to_the_same_meaning(source: str, context: dict[str, object]) -> None:
    try:
        expression = parse(source)
    except ExpressionSyntaxError:
        return
    again = parse(render(expression.root))
    assert render(again.root) == render(expression.root)
    assert _outcome(again, context) == _outcome(expression, context)
