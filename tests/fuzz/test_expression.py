"""Fuzzing the expression language, beyond tests/expression/test_properties.py's character soup.

- Token soup: sequences of the language's own tokens (operators, keywords, function names,
  literals with escapes, durations, brackets) reach deeper parser states than random characters;
  whatever comes out, `parse` returns an Expression or raises `ExpressionSyntaxError` at a column
  inside the text — the only documented error class.
- Valid expressions, built from the grammar so that every one must parse (a refusal fails the
  test), evaluated over facts shaped like a runbook's (`diagnostics.<id>.status`, `labels`, series,
  numbers of every kind): a value or `ExpressionEvaluationError`, nothing else; `holds` and
  `describe` take every result.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from handrail.errors import ExpressionEvaluationError, ExpressionSyntaxError
from handrail.expression import FUNCTIONS, Expression, describe, holds, parse
from handrail.expression.description import quote
from handrail.expression.function import arity_problem
from support.fuzzing import fuzz_settings, hostile_text

OPERATORS = ["||", "or", "&&", "and", "==", "===", "!=", "!==", "<", "<=", ">", ">=", "in", "not in"]
OPERATORS += ["+", "-", "*", "/", "%"]
TOKENS = [*OPERATORS, "!", "not", "(", ")", "[", "]", ",", ".", "true", "false", "null", "5m", "500ms", "1e3"]
TOKENS += ["'a\\'b'", '"x"', "'\\n'", "'", '"', "\\", "labels", "diagnostics", "value", "-1", "0.5", "$", "{{", "}}"]
TOKENS += [f"{name}(" for name in sorted(FUNCTIONS)]
SAFE_REGEXES = ["'^pay'", "'[0-9]+'", "'a|b'", "'(?i)error'", "''"]
DIAGNOSTICS = ["pool", "api", "db"]
FIELDS = ["status", "value", "count", "values", "series", "message", "empty", "max"]


def _arities(name: str) -> list[int]:
    return [count for count in range(4) if arity_problem(name, count) is None]


def _reference() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda d, f: f"diagnostics.{d}.{f}", st.sampled_from(DIAGNOSTICS), st.sampled_from(FIELDS)),
        st.sampled_from(["labels.service", "labels['app.kubernetes.io/name']", "labels.missing", "value", "values"]),
        st.builds(lambda i: f"values[{i}]", st.integers(min_value=-5, max_value=5)),
        st.builds(lambda i: f"diagnostics.api.series[{i}].labels.pod", st.integers(min_value=-2, max_value=2)),
    )


ATOMS = st.one_of(
    _reference(),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300).map(repr),
    st.sampled_from(["true", "false", "null", "500ms", "5m", "1.5s", "2h", "1d", "[]", "0", "0.0"]),
    hostile_text(max_size=10).map(quote),
)


def _call(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def with_arguments(name: str) -> st.SearchStrategy[str]:
        if name == "matches":  # a literal regex must compile, or parsing (rightly) refuses it
            return st.tuples(inner, st.sampled_from(SAFE_REGEXES)).map(lambda a: f"matches({a[0]}, {a[1]})")
        count = st.sampled_from(_arities(name))
        return count.flatmap(lambda n: st.lists(inner, min_size=n, max_size=n)).map(lambda a: f"{name}({', '.join(a)})")

    return st.sampled_from(sorted(FUNCTIONS)).flatmap(with_arguments)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(OPERATORS), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(st.sampled_from(["!", "-", "not "]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["status", "value", "pod", "x"])).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
        _call(inner),
    )


valid_expressions = st.recursive(ATOMS, _extend, max_leaves=12)

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.sampled_from([0, -0.0, math.nan, math.inf])
)
statuses = st.sampled_from(["healthy", "warning", "critical", "unknown", "error"])
series = st.lists(
    st.fixed_dictionaries(
        {"labels": st.dictionaries(st.sampled_from(["pod", "app"]), hostile_text(10)), "value": numbers}
    ),
    max_size=3,
)
diagnostic = st.fixed_dictionaries(
    {"status": statuses, "message": hostile_text(20)},
    optional={
        "value": numbers | st.none() | hostile_text(5),
        "count": numbers,
        "values": st.lists(numbers | st.none(), max_size=4),
        "series": series,
        "empty": st.booleans(),
        "max": numbers | st.none(),
    },
)
facts = st.fixed_dictionaries(
    {
        "diagnostics": st.dictionaries(st.sampled_from(DIAGNOSTICS), diagnostic, max_size=3),
        "labels": st.dictionaries(st.sampled_from(["service", "app.kubernetes.io/name", "pod"]), hostile_text(15)),
        "value": numbers | st.none() | hostile_text(5),
        "values": st.lists(numbers | hostile_text(5) | st.none(), max_size=4),
    }
)


@fuzz_settings(300)
@given(st.lists(st.sampled_from(TOKENS) | hostile_text(6), max_size=25).map(" ".join))
def test_token_soup_parses_or_raises_only_a_syntax_error_at_a_column_inside_it(text: str) -> None:
    outcome: Expression | ExpressionSyntaxError
    try:
        outcome = parse(text)
    except ExpressionSyntaxError as exc:
        outcome = exc
    if isinstance(outcome, ExpressionSyntaxError):
        assert 1 <= outcome.column <= len(text) + 1
        assert outcome.message
    else:
        assert isinstance(describe(outcome), str)


@fuzz_settings(300)
@given(valid_expressions, facts)
def test_valid_expressions_evaluate_to_a_value_or_an_evaluation_error(source: str, context: dict[str, Any]) -> None:
    expression = parse(source)  # built from the grammar: a syntax error here is a bug
    assert isinstance(describe(expression), str)
    outcome: object
    try:
        outcome = expression.evaluate(context)
    except ExpressionEvaluationError as exc:
        outcome = exc
    if isinstance(outcome, ExpressionEvaluationError):
        assert outcome.message
    else:
        assert isinstance(holds(outcome), bool)
