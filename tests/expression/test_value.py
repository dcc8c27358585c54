"""Values: strict equality, ordering, membership and type names."""

from __future__ import annotations

import math

import pytest

from handrail.errors import ExpressionEvaluationError
from handrail.expression.value import contains, equal, order, type_name, with_article


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        pytest.param(1, 1.0, True, id="int-and-float"),
        pytest.param(True, True, True, id="bools"),
        pytest.param(True, 1, False, id="bool-and-int"),
        pytest.param(0, False, False, id="zero-and-false"),
        pytest.param("1", 1, False, id="string-and-number"),
        pytest.param(None, None, True, id="nulls-inside-values"),
        pytest.param(None, 0, False, id="null-and-zero"),
        pytest.param([1, [2]], (1, (2.0,)), True, id="lists-and-tuples"),
        pytest.param([1], [1, 2], False, id="lists-of-different-length"),
        pytest.param({"a": [1]}, {"a": [1.0]}, True, id="mappings"),
        pytest.param({"a": 1}, {"b": 1}, False, id="mappings-with-different-keys"),
        pytest.param({"a": True}, {"a": 1}, False, id="mapping-values-strictly"),
        pytest.param(math.nan, math.nan, False, id="nan"),
        pytest.param([], {}, False, id="list-and-mapping"),
    ],
)
def test_equal_is_strict(left: object, right: object, expected: bool) -> None:
    assert equal(left, right) is expected
    assert equal(right, left) is expected


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(True, 1, id="bool-and-number"),
        pytest.param("a", 1, id="string-and-number"),
        pytest.param([1], [2], id="lists"),
        pytest.param({}, {}, id="mappings"),
    ],
)
def test_order_refuses_mixed_or_unordered_types(left: object, right: object) -> None:
    with pytest.raises(ExpressionEvaluationError, match="cannot compare") as caught:
        order("<", left, right, column=4)
    assert caught.value.column == 4


def test_order_handles_ints_and_floats_exactly() -> None:
    assert order("<", 2**60, 2.0**60 + 2**10, column=1) is True
    assert order(">=", 1, 1.0, column=1) is True


def test_contains_looks_in_lists_strings_and_mapping_keys() -> None:
    assert contains([1, 2], 2.0, column=1, what="in") is True
    assert contains("abc", "bc", column=1, what="in") is True
    assert contains({"k": 1}, "k", column=1, what="in") is True
    assert contains({"k": 1}, "v", column=1, what="in") is False


@pytest.mark.parametrize(
    ("value", "name"),
    [
        pytest.param(None, "null", id="null"),
        pytest.param(False, "boolean", id="boolean"),
        pytest.param(3, "number", id="int"),
        pytest.param(3.5, "number", id="float"),
        pytest.param("", "string", id="string"),
        pytest.param([], "list", id="list"),
        pytest.param((), "list", id="tuple"),
        pytest.param({}, "mapping", id="mapping"),
        pytest.param({1}, "set", id="other"),
    ],
)
def test_type_name_uses_the_language_words(value: object, name: str) -> None:
    assert type_name(value) == name


def test_with_article_picks_a_or_an() -> None:
    assert with_article([]) == "a list"
    assert with_article(None) == "a null"
    assert with_article({1}) == "a set"
    assert with_article(object()) == "an object"
