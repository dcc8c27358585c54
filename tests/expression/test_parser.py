"""Parsing: syntax errors in plain words with columns, limits, hostile input and caching."""

from __future__ import annotations

import pytest

from handrail.errors import ExpressionEvaluationError, ExpressionSyntaxError
from handrail.expression import MAX_DEPTH, MAX_LENGTH, MAX_REGEX_LENGTH, parse
from handrail.expression.description import render
from handrail.expression.node import Binary, Comparison, Literal, Logical, Name, Unary


def case(source: str, column: int, fragment: str, id: str) -> object:
    """Build one row: parsing `source` fails at `column` with `fragment` in the message."""
    return pytest.param(source, column, fragment, id=id)


SYNTAX_ERRORS = [
    case("a < b < c", 7, "comparisons cannot be chained; join them with 'and'", "chained-comparison"),
    case("1 < 2 == true", 7, "comparisons cannot be chained", "chained-mixed-comparison"),
    case("a in b in c", 8, "comparisons cannot be chained", "chained-in"),
    case("lenght(x)", 1, "unknown function 'lenght'; did you mean 'len'?", "unknown-function-suggestion"),
    case("x > 1 && avrage(y)", 10, "did you mean 'avg'?", "unknown-function-column"),
    case("foo(1)", 1, "unknown function 'foo'; the functions are abs, all, any", "unknown-function-list"),
    case("__class__", 1, "names starting with '__' are not allowed", "dunder-name"),
    case("x.__dict__", 3, "names starting with '__' are not allowed: '__dict__'", "dunder-field"),
    case("series[0].__class__", 11, "names starting with '__'", "dunder-field-after-index"),
    case("__import__('os')", 1, "names starting with '__'", "dunder-function"),
    case("'abc", 1, "this string is never closed", "unclosed-single-quote"),
    case('value == "abc', 10, "this string is never closed", "unclosed-double-quote"),
    case("5min", 1, "'5min' is not a number or a duration; a duration ends in ms, s, m, h or d", "bad-unit"),
    case("deploy_age > 5min", 14, "'5min' is not a number", "bad-unit-column"),
    case("1e", 1, "'1e' is not a number", "exponent-without-digits"),
    case("12_000", 1, "'12_000' is not a number", "number-with-underscore"),
    case("a = 1", 3, "unexpected character '='; compare with '=='", "single-equals"),
    case("a & b", 3, "write 'and' as '&&' or 'and'", "single-ampersand"),
    case("a | b", 3, "write 'or' as '||' or 'or'", "single-bar"),
    case("naïve", 3, "unexpected character 'ï'; names use only ASCII letters", "non-ascii-letter"),
    case("value $ 3", 7, "unexpected character '$'", "unknown-character"),
    case("{'a': 1}", 1, "unexpected character '{'", "no-mapping-literals"),
    case("a b", 3, "unexpected name 'b'; expected an operator or the end of the expression", "two-names"),
    case("value >", 8, "the expression ends too early; expected a value", "missing-right-operand"),
    case("(value", 7, "expected an operator or ')'", "unclosed-parenthesis"),
    case("len(", 5, "expected a value or ')'", "unclosed-call"),
    case("len(x", 6, "expected an operator, ',' or ')'", "unclosed-call-argument"),
    case("[1 2]", 4, "unexpected number 2; expected an operator, ',' or ']'", "list-without-comma"),
    case("x[1", 4, "expected an operator or ']'", "unclosed-index"),
    case("x.5", 3, "unexpected number 5; expected a field name", "number-after-dot"),
    case("x.and", 3, "unexpected 'and'; expected a field name", "keyword-after-dot"),
    case("x not y", 7, "unexpected name 'y'; expected 'in'", "not-without-in"),
    case(")", 1, "unexpected ')'; expected a value", "closing-parenthesis-first"),
    case("x == !y", 6, "unexpected '!'; expected a value", "not-inside-comparison"),
    case("value 'x'", 7, "unexpected string 'x'", "string-after-name"),
    case("", 1, "the expression is empty", "empty"),
    case("   ", 1, "the expression is empty", "blank"),
    case("len()", 1, "len() takes exactly 1 argument (0 given)", "too-few-arguments"),
    case("round(1, 2, 3)", 1, "round() takes 1 or 2 arguments (3 given)", "too-many-arguments"),
    case("contains(x)", 1, "contains() takes exactly 2 arguments (1 given)", "contains-one-argument"),
    case("min()", 1, "min() takes 1 or more arguments (0 given)", "min-no-arguments"),
    case("matches(x, '(a')", 12, "invalid regular expression (missing ): (a)", "regex-unbalanced"),
    case("matches(x, '(?=a)')", 12, "RE2 syntax has no look-around", "regex-lookahead"),
    case(r"matches(x, '(a)\1')", 12, "invalid regular expression", "regex-backreference"),
    case(
        "matches(x, '" + "a" * (MAX_REGEX_LENGTH + 1) + "')",
        12,
        f"the regular expression is {MAX_REGEX_LENGTH + 1} characters long; the limit is 1000",
        "regex-too-long",
    ),
    case("x" * (MAX_LENGTH + 1), MAX_LENGTH + 1, "the limit is 4096", "too-long"),
    case("(" * 70 + "x" + ")" * 70, 65, "nests more than 64 levels deep", "too-deep-parentheses"),
    case("-" * 100 + "1", 65, "nests more than 64 levels deep", "too-deep-negation"),
    case("+".join(["a"] * 100), 73, "nests more than 64 levels deep", "too-long-operator-chain"),
]


@pytest.mark.parametrize(("source", "column", "fragment"), SYNTAX_ERRORS)
def test_syntax_error_says_where_and_what_was_expected(source: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse(source)
    assert fragment in caught.value.message
    assert caught.value.column == column


def test_syntax_error_keeps_the_lark_error_as_its_cause() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("a b")
    assert type(caught.value.__cause__).__module__.startswith("lark")


def test_names_lex_greedily_so_duration_suffixes_stay_in_names() -> None:
    assert parse("deploy_within_30m").root == Name(name="deploy_within_30m", column=1)


def test_keywords_inside_longer_names_are_names() -> None:
    root = parse("order or android").root
    assert root == Logical(op="or", left=Name(name="order", column=1), right=Name(name="android", column=10), column=7)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        pytest.param("a and b", "a && b", id="and"),
        pytest.param("a or b", "a || b", id="or"),
        pytest.param("not a", "!a", id="not"),
        pytest.param("a === b", "a == b", id="strict-equal"),
        pytest.param("a !== b", "a != b", id="strict-not-equal"),
    ],
)
def test_operator_spellings_parse_to_the_same_operator(spelling: str, canonical: str) -> None:
    assert render(parse(spelling).root) == canonical


def test_literal_keeps_how_it_was_written() -> None:
    assert parse("1000ms").root == Literal(value=1.0, text="1000ms", column=1)
    assert parse('"it\'s"').root == Literal(value="it's", text=r"'it\'s'", column=1)


def test_operators_carry_their_own_column() -> None:
    root = parse("-a + b >= 2")
    assert root.root == Comparison(
        op=">=",
        left=Binary(
            op="+",
            left=Unary(op="-", operand=Name(name="a", column=2), column=1),
            right=Name(name="b", column=6),
            column=4,
        ),
        right=Literal(value=2, text="2", column=11),
        column=8,
    )


def test_columns_count_characters_across_newlines() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse("value >= 70\n  && ?")
    assert caught.value.column == 18


def test_parse_results_are_cached() -> None:
    assert parse("value >= 70 && value < 90") is parse("value >= 70 && value < 90")


def test_expression_at_the_length_limit_parses() -> None:
    assert parse("'" + "a" * (MAX_LENGTH - 2) + "'").evaluate({}) == "a" * (MAX_LENGTH - 2)


def test_expression_at_the_depth_limit_parses() -> None:
    source = "(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1)
    assert parse(source).evaluate({"x": 1}) == 1


def test_ten_thousand_nested_parentheses_are_refused() -> None:
    with pytest.raises(ExpressionSyntaxError, match="the limit is 4096"):
        parse("(" * 10_000 + "x" + ")" * 10_000)


def test_deep_nesting_within_the_length_limit_is_refused_without_recursion_error() -> None:
    half = (MAX_LENGTH - 1) // 2
    for source in ["(" * half + "x" + ")" * half, "[" * half + "]" * half, "!" * (MAX_LENGTH - 1) + "x"]:
        with pytest.raises(ExpressionSyntaxError, match="nests more than 64 levels"):
            parse(source)


def test_unclosed_deep_nesting_is_a_syntax_error() -> None:
    with pytest.raises(ExpressionSyntaxError, match="ends too early"):
        parse("(" * (MAX_LENGTH - 1) + "x")


def test_five_megabyte_string_is_refused() -> None:
    with pytest.raises(ExpressionSyntaxError, match="the limit is 4096"):
        parse("'" + "a" * 5_000_000 + "'")


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("(a+)+$", id="nested-quantifier"),
        pytest.param("^(a|aa)+$", id="overlapping-alternation"),
        pytest.param("(a*)*b", id="nested-star"),
        pytest.param("^(a?){30}a{30}$", id="optional-repetition"),
    ],
)
def test_regex_bomb_on_long_text_finishes_with_no_match(pattern: str) -> None:
    expression = parse(f"matches(x, '{pattern}')")
    assert expression.evaluate({"x": "a" * 100_000 + "!"}) is False


def test_regex_from_context_is_checked_at_evaluation() -> None:
    expression = parse("matches(x, p)")
    with pytest.raises(ExpressionEvaluationError, match="invalid regular expression"):
        expression.evaluate({"x": "a", "p": "(?<=a)b"})
