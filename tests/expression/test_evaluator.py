"""Evaluation: every operator, literal, null rule, duration and precedence level, by example."""

from __future__ import annotations

import math

import pytest

from handrail.errors import ExpressionEvaluationError
from handrail.expression import holds, parse

from .support import CONTEXT, assert_same


def case(source: str, expected: object, id: str, **context: object) -> object:
    """Build one table row: `source` evaluated on CONTEXT updated with `context` gives `expected`."""
    return pytest.param(source, {**CONTEXT, **context}, expected, id=id)


REFERENCE_RUNBOOK = [
    case("all_ready === true", True, "runbook-all-ready", all_ready=True),
    case("all_ready === true", False, "runbook-not-all-ready", all_ready=False),
    case("all_ready === true", None, "runbook-all-ready-unknown", all_ready=None),
    case("ready_count < total_count", True, "runbook-some-not-ready", ready_count=2, total_count=3),
    case("ready_count < total_count", False, "runbook-all-counted", ready_count=3, total_count=3),
    case("ready_count === 0", True, "runbook-none-ready", ready_count=0),
    case("value < 70", True, "runbook-value-healthy", value=50),
    case("value >= 70 && value < 90", True, "runbook-value-warning", value=75),
    case("value >= 70 && value < 90", False, "runbook-value-not-warning", value=95),
    case("value >= 70 && value < 90", None, "runbook-value-warning-no-data", value=None),
    case("value >= 90", True, "runbook-value-critical", value=90),
    case("value < 1", True, "runbook-small-healthy", value=0.5),
    case("value >= 1 && value < 5", True, "runbook-small-warning", value=4.99),
    case("no_recent_deploy", True, "runbook-no-recent-deploy", no_recent_deploy=True),
    case("deploy_within_30m", False, "runbook-deploy-within-30m", deploy_within_30m=False),
    case("deploy_within_5m", True, "runbook-deploy-within-5m", deploy_within_5m=True),
    case("all_healthy", None, "runbook-all-healthy-unknown", all_healthy=None),
    case("any_slow > 1000ms", True, "runbook-slow", any_slow=1.2),
    case("any_slow > 1000ms", False, "runbook-not-slow", any_slow=0.9),
    case("any_unreachable", False, "runbook-reachable", any_unreachable=False),
    case("diagnostics.check_db_connections.status === 'critical'", True, "runbook-db-critical"),
    case(
        "diagnostics.check_db_connections.status === 'critical'",
        False,
        "runbook-db-warning",
        diagnostics={"check_db_connections": {"status": "warning"}},
    ),
    case(
        "diagnostics.check_db_connections.status === 'critical'",
        None,
        "runbook-db-not-run",
        diagnostics={},
    ),
]

LITERALS = [
    case("1", 1, "integer"),
    case("2.5", 2.5, "decimal"),
    case("1e3", 1000.0, "exponent"),
    case("1E-2", 0.01, "negative-exponent"),
    case("007", 7, "leading-zeros"),
    case("'single'", "single", "single-quoted-string"),
    case('"double"', "double", "double-quoted-string"),
    case(r"'a\nb'", "a\nb", "newline-escape"),
    case(r"'tab\there'", "tab\there", "tab-escape"),
    case(r"'back\\slash'", "back\\slash", "backslash-escape"),
    case(r"'it\'s'", "it's", "single-quote-escape"),
    case(r'"say \"hi\""', 'say "hi"', "double-quote-escape"),
    case('"it\'s"', "it's", "other-quote-needs-no-escape"),
    case(r"'\d+'", "\\d+", "unknown-escape-kept-as-written"),
    case("true", True, "true"),
    case("false", False, "false"),
    case("null", None, "null"),
    case("[1, 'a', value]", [1, "a", 75], "list"),
    case("[]", [], "empty-list"),
    case("[1, 2,]", [1, 2], "list-trailing-comma"),
    case("500ms", 0.5, "milliseconds"),
    case("1000ms", 1.0, "thousand-milliseconds-is-one-second"),
    case("30s", 30.0, "seconds"),
    case("5m", 300.0, "minutes"),
    case("2h", 7200.0, "hours"),
    case("1d", 86400.0, "days"),
    case("1.5s", 1.5, "decimal-duration"),
    case("1000ms == 1", True, "duration-equals-number"),
    case("5m == 300", True, "minutes-equal-seconds"),
]

OPERATORS = [
    case("1 + 2", 3, "add"),
    case("7 - 10", -3, "subtract"),
    case("3 * 4", 12, "multiply"),
    case("7 / 2", 3.5, "divide"),
    case("6 / 3", 2.0, "divide-gives-float"),
    case("7 % 3", 1, "modulo"),
    case("-7 % 3", 2, "modulo-takes-sign-of-divisor"),
    case("2.5 * 2", 5.0, "float-arithmetic"),
    case("'ab' + 'cd'", "abcd", "concatenate-strings"),
    case("[1] + [2, 3]", [1, 2, 3], "concatenate-lists"),
    case("-value", -75, "negate"),
    case("- -3", 3, "double-negation"),
    case("1 + 2 * 3", 7, "product-binds-tighter-than-sum"),
    case("(1 + 2) * 3", 9, "parentheses"),
    case("10 - 4 - 3", 3, "subtraction-is-left-associative"),
    case("8 / 4 / 2", 1.0, "division-is-left-associative"),
    case("-2 * 3", -6, "negation-binds-tighter-than-product"),
    case("2 * -3", -6, "negation-after-operator"),
    case("-values[0]", -1, "postfix-binds-tighter-than-negation"),
    case("1 + 2 > 2", True, "sum-binds-tighter-than-comparison"),
    case("!1 > 2", True, "not-binds-looser-than-comparison"),
    case("not false and false", False, "not-binds-tighter-than-and"),
    case("true or false and false", True, "and-binds-tighter-than-or"),
    case("false and true or true", True, "or-is-lowest"),
    case("true || false && false", True, "symbol-and-binds-tighter-than-symbol-or"),
    case("!(true && false)", True, "not-of-group"),
    case("(1 < 2) == true", True, "comparison-in-parentheses-compares"),
    case("1 == 1.0", True, "int-equals-float"),
    case("1 === 1.0", True, "strict-equal-is-equal"),
    case("true == 1", False, "bool-is-not-a-number"),
    case("0 == false", False, "zero-is-not-false"),
    case("1 != true", True, "bool-not-equal-to-number"),
    case("'1' == 1", False, "string-is-not-a-number"),
    case("[1, 2] == [1, 2]", True, "lists-compare-structurally"),
    case("[1, 2] == [2, 1]", False, "list-order-matters"),
    case("[1, [true]] == [1.0, [1]]", False, "nested-bool-is-not-a-number"),
    case("nested.a == nested.a", True, "mappings-compare-structurally"),
    case("nested.a != labels", True, "different-mappings"),
    case("'a' !== 'b'", True, "strict-not-equal"),
    case("2 <= 2", True, "at-most"),
    case("3 > 2.5", True, "above"),
    case("2 >= 3", False, "at-least"),
    case("'abc' < 'abd'", True, "strings-order"),
    case("'b' >= 'a'", True, "strings-order-at-least"),
    case("nan == nan", False, "nan-is-not-equal-to-itself"),
    case("nan != nan", True, "nan-differs-from-itself"),
    case("nan < 1", False, "nan-compares-false"),
    case("nan >= 1", False, "nan-compares-false-at-least"),
    case("inf > 1e308", True, "infinity-is-above-every-number"),
    case("2 in values", True, "in-list"),
    case("5 in values", False, "not-in-list"),
    case("1.0 in values", True, "in-list-by-value"),
    case("true in [1]", False, "in-list-strictly"),
    case("'pay' in name", True, "substring"),
    case("'app' in labels", True, "key-in-mapping"),
    case("'x' not in labels", True, "key-not-in-mapping"),
    case("5 not in values", True, "not-in"),
    case("'ment' not in name", False, "not-in-substring"),
]

NULLS = [
    case("missing == null", True, "equal-null-literal-tests-absence"),
    case("missing === null", True, "strict-equal-null-literal-tests-absence"),
    case("null == missing", True, "null-literal-on-the-left"),
    case("missing != null", False, "not-equal-null-literal-tests-presence"),
    case("missing !== null", False, "strict-not-equal-null-literal"),
    case("value == null", False, "present-value-is-not-missing"),
    case("value != null", True, "present-value-is-present"),
    case("zero != null", True, "zero-is-present"),
    case("null == null", True, "null-literal-equals-null-literal"),
    case("missing == 1", None, "equal-with-null-value-is-null"),
    case("missing != 1", None, "not-equal-with-null-value-is-null"),
    case("labels.nope == labels.nope", None, "two-null-values-are-not-known-equal"),
    case("missing < 1", None, "order-with-null-is-null"),
    case("1 >= missing", None, "order-with-null-on-the-right-is-null"),
    case("missing in values", None, "in-with-null-item-is-null"),
    case("1 in missing", None, "in-null-container-is-null"),
    case("1 not in missing", None, "not-in-null-is-null"),
    case("missing + 1", None, "arithmetic-with-null-is-null"),
    case("1 * missing", None, "arithmetic-with-null-on-the-right-is-null"),
    case("-missing", None, "negated-null-is-null"),
    case("missing.field", None, "field-of-null-is-null"),
    case("missing[0]", None, "index-of-null-is-null"),
    case("labels.nope", None, "missing-key-is-null"),
    case("labels.nope.deeper", None, "path-through-missing-key-is-null"),
    case("values[10]", None, "index-out-of-range-is-null"),
    case("values[-1]", 4, "negative-index-counts-from-end"),
    case("values[-5]", None, "negative-index-out-of-range-is-null"),
    case("values[missing]", None, "null-index-is-null"),
    case("series[0].labels.pod", "api-1", "path-through-list-and-mappings"),
    case("series[1].labels.app", None, "missing-label-is-null"),
    case("labels['app']", "payments", "string-index"),
    case("nested['a'].b[1]", 20, "mixed-index-and-fields"),
    case("missing && false", False, "null-and-false-is-false"),
    case("false && missing", False, "false-and-null-is-false"),
    case("missing && true", None, "null-and-true-is-null"),
    case("true && missing", None, "true-and-null-is-null"),
    case("missing || true", True, "null-or-true-is-true"),
    case("missing || false", None, "null-or-false-is-null"),
    case("false || missing", None, "false-or-null-is-null"),
    case("missing && missing", None, "null-and-null-is-null"),
    case("!missing", None, "not-null-is-null"),
    case("not missing", None, "keyword-not-null-is-null"),
    case("missing > 1 && value > 100", False, "unknown-and-false-is-false"),
    case("missing > 1 || value > 10", True, "unknown-or-true-is-true"),
    case("false && 1 / 0 > 1", False, "and-skips-right-side-when-left-is-false"),
    case("true || no_such_name", True, "or-skips-right-side-when-left-is-true"),
    case("values && 1", True, "logic-takes-truthiness"),
    case("empty || 0", False, "empty-list-and-zero-are-falsy"),
    case("text || 'x'", True, "empty-string-is-falsy"),
    case("!0", True, "not-zero"),
    case("!''", True, "not-empty-string"),
    case("!empty", True, "not-empty-list"),
    case("value", 75, "bare-name-gives-its-value"),
]

FUNCTIONS = [
    case("len(name)", 15, "len-of-string"),
    case("len(values)", 4, "len-of-list"),
    case("len(labels)", 2, "len-of-mapping"),
    case("len('')", 0, "len-of-empty-string"),
    case("len(missing)", None, "len-of-null"),
    case("count(values)", 4, "count-of-list"),
    case("count([1, 2, 1], 1)", 2, "count-equal-items"),
    case("count(flags, true)", 1, "count-bools"),
    case("count([1, true], 1)", 1, "count-strictly"),
    case("count(missing)", None, "count-of-null"),
    case("count(values, missing)", None, "count-of-null-item"),
    case("sum(values)", 10, "sum"),
    case("sum([])", 0, "sum-of-empty-is-zero"),
    case("sum([1.5, 2])", 3.5, "sum-of-floats"),
    case("sum(nulls)", None, "sum-with-null-item"),
    case("sum(missing)", None, "sum-of-null"),
    case("avg(values)", 2.5, "avg"),
    case("avg([])", None, "avg-of-empty-is-null"),
    case("avg(nulls)", None, "avg-with-null-item"),
    case("min(values)", 1, "min-of-list"),
    case("max(values)", 4, "max-of-list"),
    case("min(3, 1, 2)", 1, "min-of-arguments"),
    case("max(1, 2.5)", 2.5, "max-of-arguments"),
    case("min([])", None, "min-of-empty-is-null"),
    case("max(empty)", None, "max-of-empty-is-null"),
    case("min('b', 'a')", "a", "min-of-strings"),
    case("max(1, missing)", None, "max-with-null-argument"),
    case("max(nulls)", None, "max-with-null-item"),
    case("max(1, nan)", math.nan, "max-with-nan-is-nan"),
    case("any(flags)", True, "any"),
    case("all(flags)", False, "all"),
    case("any([])", None, "any-of-empty-is-null"),
    case("all([])", None, "all-of-empty-is-null"),
    case("any([false, null])", None, "any-false-and-null-is-null"),
    case("any([null, true])", True, "any-null-and-true-is-true"),
    case("all([true, null])", None, "all-true-and-null-is-null"),
    case("all([null, false])", False, "all-null-and-false-is-false"),
    case("all([1, 'x'])", True, "all-by-truthiness"),
    case("any([0, ''])", False, "any-by-truthiness"),
    case("any(missing)", None, "any-of-null"),
    case("abs(-3)", 3, "abs-int"),
    case("abs(-2.5)", 2.5, "abs-float"),
    case("abs(missing)", None, "abs-of-null"),
    case("round(2.5)", 3, "round-half-away-from-zero"),
    case("round(-2.5)", -3, "round-negative-half-away-from-zero"),
    case("round(2.4)", 2, "round-down"),
    case("round(1.0)", 1, "round-gives-int"),
    case("round(7)", 7, "round-int"),
    case("round(2.675, 2)", 2.68, "round-digits-as-written"),
    case("round(1.25, 1)", 1.3, "round-digits-half-up"),
    case("round(1234, -2)", 1200, "round-negative-digits"),
    case("round(inf)", math.inf, "round-infinity"),
    case("round(missing)", None, "round-of-null"),
    case("round(1.5, missing)", None, "round-to-null-digits"),
    case("contains(name, 'service')", True, "contains-substring"),
    case("contains(values, 3)", True, "contains-item"),
    case("contains(values, '3')", False, "contains-item-strictly"),
    case("contains(labels, 'team')", True, "contains-key"),
    case("contains(missing, 'x')", None, "contains-in-null"),
    case("contains(name, missing)", None, "contains-null"),
    case("startswith(name, 'pay')", True, "startswith"),
    case("startswith(name, 'x')", False, "not-startswith"),
    case("endswith(name, 'service')", True, "endswith"),
    case("endswith(missing, 'x')", None, "endswith-null"),
    case("matches(name, '^pay.*-service$')", True, "matches-anchored"),
    case("matches(name, 'ment')", True, "matches-searches-anywhere"),
    case("matches(name, '^ment')", False, "matches-anchor"),
    case(r"matches('pod-7', '\d$')", True, "matches-digit-class"),
    case("matches(name, pattern)", True, "matches-pattern-from-context", pattern="pay(ment)?"),
    case("matches(missing, 'x')", None, "matches-null"),
    case("lower('AbC')", "abc", "lower"),
    case("upper(name)", "PAYMENT-SERVICE", "upper"),
    case("lower(missing)", None, "lower-null"),
    case("number('42')", 42.0, "number-of-string"),
    case("number(' 2.5 ')", 2.5, "number-strips-spaces"),
    case("number(3)", 3.0, "number-of-int"),
    case("number('NaN')", math.nan, "number-of-prometheus-nan"),
    case("number('+Inf')", math.inf, "number-of-prometheus-infinity"),
    case("number(missing)", None, "number-of-null"),
    case("max(values) - min(values) > 2", True, "functions-in-arithmetic"),
    case("count > 1", True, "function-name-without-parenthesis-is-a-name", count=2),
    case("max(max, 1)", 95.5, "function-and-name-share-a-spelling", max=95.5),
    case("len(series[0].labels) == 2", True, "function-of-path"),
    case("sum(values) / count(values)", 2.5, "mean-by-hand"),
]


@pytest.mark.parametrize(
    ("source", "context", "expected"), REFERENCE_RUNBOOK + LITERALS + OPERATORS + NULLS + FUNCTIONS
)
def test_expression_evaluates_to_expected_value(source: str, context: dict[str, object], expected: object) -> None:
    assert_same(parse(source).evaluate(context), expected)


def case_error(source: str, column: int, fragment: str, id: str, **context: object) -> object:
    """Build one error row: evaluating `source` fails at `column` with `fragment` in the message."""
    return pytest.param(source, {**CONTEXT, **context}, column, fragment, id=id)


EVALUATION_ERRORS = [
    case_error("valu > 1", 1, "unknown name 'valu'; did you mean 'value'?", "unknown-name-with-suggestion"),
    case_error("nothing_like_it", 1, "unknown name 'nothing_like_it'", "unknown-name"),
    case_error("value > 1 && 1 / zero > 0", 16, "division by zero", "division-by-zero-points-at-operator"),
    case_error("value % 0", 7, "division by zero", "modulo-by-zero"),
    case_error("1 / 0.0", 3, "division by zero", "division-by-float-zero"),
    case_error("series.labels.pod", 8, "series is a list; index it first: series[0].labels", "field-of-list-hint"),
    case_error("value.x", 7, "value is a number, which has no fields", "field-of-number"),
    case_error("true + 1", 6, "(booleans are not numbers)", "bool-in-arithmetic"),
    case_error("'a' + 1", 5, "'+' needs two numbers, two strings or two lists", "add-string-and-number"),
    case_error("[1] * 2", 5, "'*' needs two numbers, not a list and a number", "multiply-list"),
    case_error("-'a'", 1, "'-' needs a number, not a string", "negate-string"),
    case_error("-true", 1, "'-' needs a number, not a boolean", "negate-bool"),
    case_error("'a' < 1", 5, "cannot compare a string with a number using '<'", "order-string-number"),
    case_error("true > false", 6, "cannot compare a boolean with a boolean", "order-bools"),
    case_error("values < 3", 8, "cannot compare a list with a number", "order-list"),
    case_error("1 in 2", 3, "'in' needs a list, a string or a mapping", "in-number"),
    case_error("1 in name", 3, "'in' looks for a substring, so it needs a string", "number-in-string"),
    case_error("1 not in labels", 3, "looks for a key of a mapping", "number-in-mapping"),
    case_error("values['a']", 7, "values is a list; index it with a whole number", "string-index-of-list"),
    case_error("values[1.5]", 7, "index it with a whole number, not a number", "float-index-of-list"),
    case_error("labels[0]", 7, "labels is a mapping; index it with a string key", "number-index-of-mapping"),
    case_error("name[0]", 5, "only lists and mappings can be indexed", "index-of-string"),
    case_error("len(5)", 1, "len() needs a string, a list or a mapping, not a number", "len-of-number"),
    case_error("count(name)", 1, "count() needs a list, not a string", "count-of-string"),
    case_error("sum([1, 'a'])", 1, "sum() needs numbers, but item 2 is a string", "sum-of-strings"),
    case_error("sum([true])", 1, "item 1 is a boolean", "sum-of-bools"),
    case_error("avg(name)", 1, "avg() needs a list", "avg-of-string"),
    case_error("min(1, 'a')", 1, "cannot compare a number with a string", "min-of-mixed"),
    case_error("max(5)", 1, "max() of one argument needs a list, not a number", "max-of-one-number"),
    case_error("any(name)", 1, "any() needs a list", "any-of-string"),
    case_error("abs('x')", 1, "abs() needs a number, not a string", "abs-of-string"),
    case_error("abs(true)", 1, "abs() needs a number, not a boolean", "abs-of-bool"),
    case_error("round('x')", 1, "round() needs a number", "round-of-string"),
    case_error("round(1.5, 0.5)", 1, "whole number of digits", "round-to-fractional-digits"),
    case_error("round(1.5, 1000)", 1, "from -100 to 100", "round-to-too-many-digits"),
    case_error("contains(5, 1)", 1, "contains() needs a list, a string or a mapping", "contains-in-number"),
    case_error("startswith(5, 'a')", 1, "startswith() needs a string, not a number", "startswith-number"),
    case_error("matches(name, pattern)", 1, "invalid regular expression", "matches-bad-pattern", pattern="("),
    case_error("matches(name, pattern)", 1, "the limit is 1000", "matches-pattern-too-long", pattern="a" * 1001),
    case_error("matches(5, 'a')", 1, "matches() needs a string", "matches-number"),
    case_error("lower(5)", 1, "lower() needs a string", "lower-of-number"),
    case_error("number('abc')", 1, "number() cannot read 'abc' as a number", "number-of-word"),
    case_error("number('1_000')", 1, "cannot read '1_000'", "number-with-underscores"),
    case_error("number(true)", 1, "number() needs a number or a string, not a boolean", "number-of-bool"),
    case_error("number([])", 1, "not a list", "number-of-list"),
    case_error("x > 1 && len(x) > 0", 10, "len() needs", "function-column-inside-expression", x=2),
    case_error("huge * 1.5", 6, "too large", "float-overflow", huge=10**400),
    case_error("sum([huge, 1.5])", 1, "too large", "function-overflow", huge=10**400),
]


@pytest.mark.parametrize(("source", "context", "column", "fragment"), EVALUATION_ERRORS)
def test_evaluation_error_points_at_offending_node(
    source: str, context: dict[str, object], column: int, fragment: str
) -> None:
    expression = parse(source)
    with pytest.raises(ExpressionEvaluationError) as caught:
        expression.evaluate(context)
    assert fragment in caught.value.message
    assert caught.value.column == column


def test_unknown_name_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(ExpressionEvaluationError) as caught:
        parse("zzz").evaluate({"value": 1})
    assert caught.value.message == "unknown name 'zzz'"


def test_value_nested_too_deeply_to_compare_is_an_evaluation_error() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ExpressionEvaluationError, match="nested too deeply"):
        parse("x == y").evaluate({"x": deep, "y": deep})


def test_evaluation_accepts_tuples_and_any_mapping_type() -> None:
    from types import MappingProxyType

    context = MappingProxyType({"pair": (1, 2), "labels": MappingProxyType({"app": "api"})})
    assert parse("pair[1] == 2 && labels.app == 'api' && pair == [1, 2]").evaluate(context) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(True, True, id="true"),
        pytest.param(False, False, id="false"),
        pytest.param(None, False, id="null-never-holds"),
        pytest.param(0, False, id="zero"),
        pytest.param(2, True, id="number"),
        pytest.param("", False, id="empty-string"),
        pytest.param("x", True, id="string"),
        pytest.param([], False, id="empty-list"),
        pytest.param([None], True, id="list"),
    ],
)
def test_holds_is_true_only_for_present_truthy_values(value: object, expected: bool) -> None:
    assert holds(value) is expected


def test_condition_on_missing_data_does_not_hold_either_way() -> None:
    healthy = parse("value < 70")
    critical = parse("value >= 90")
    context = {"value": None}
    assert not holds(healthy.evaluate(context))
    assert not holds(critical.evaluate(context))
