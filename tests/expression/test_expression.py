"""Expression: the references and calls a linter reads, and evaluation through the public object."""

from __future__ import annotations

import pytest

from handrail.expression import Expression, Reference, parse


def refs(*pairs: tuple[tuple[str | int, ...], int]) -> tuple[Reference, ...]:
    """Build the expected references from (path, column) pairs."""
    return tuple(Reference(path=path, column=column) for path, column in pairs)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("value", refs((("value",), 1)), id="bare-name"),
        pytest.param("series[0].labels.pod", refs((("series", 0, "labels", "pod"), 1)), id="index-and-fields"),
        pytest.param(
            "diagnostics.check_db.status === 'critical'",
            refs((("diagnostics", "check_db", "status"), 1)),
            id="diagnostic-field",
        ),
        pytest.param("labels['app']", refs((("labels", "app"), 1)), id="string-index"),
        pytest.param('labels["app"].x', refs((("labels", "app", "x"), 1)), id="double-quoted-index"),
        pytest.param("x[y].z", refs((("x",), 1), (("y",), 3)), id="computed-index-stops-path"),
        pytest.param("a.b[c.d]", refs((("a", "b"), 1), (("c", "d"), 5)), id="path-inside-index"),
        pytest.param("x[-1]", refs((("x",), 1)), id="negative-index-is-computed"),
        pytest.param("x[1.5]", refs((("x",), 1)), id="float-index-stops-path"),
        pytest.param("x[true]", refs((("x",), 1)), id="bool-index-stops-path"),
        pytest.param("count(x).y", refs((("x",), 7)), id="field-of-call-result"),
        pytest.param("(x).y", refs((("x", "y"), 2)), id="parenthesized-root"),
        pytest.param("a + b.c * d[0]", refs((("a",), 1), (("b", "c"), 5), (("d", 0), 11)), id="source-order"),
        pytest.param("b || a", refs((("b",), 1), (("a",), 6)), id="order-as-written"),
        pytest.param("value > 1 && value < 2", refs((("value",), 1), (("value",), 14)), id="repeats-kept"),
        pytest.param("[a, b]", refs((("a",), 2), (("b",), 5)), id="list-items"),
        pytest.param(
            "len(series) > 0 && series[0].value > 1ms",
            refs((("series",), 5), (("series", 0, "value"), 20)),
            id="call-argument-and-path",
        ),
        pytest.param("1 + 2 == null", (), id="no-names"),
    ],
)
def test_references_are_maximal_static_paths_in_source_order(source: str, expected: tuple[Reference, ...]) -> None:
    assert parse(source).references == expected


def test_reference_knows_its_root_and_source_form() -> None:
    (reference,) = parse("series[0].labels['app-name'].pod").references
    assert reference.root == "series"
    assert str(reference) == "series[0].labels['app-name'].pod"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("max(values) - min(values) > 2", [("max", 1), ("min", 15)], id="two-calls"),
        pytest.param("len(lower(name))", [("len", 1), ("lower", 5)], id="outer-before-inner"),
        pytest.param("x[count(y)]", [("count", 3)], id="call-in-index"),
        pytest.param("value > 1", [], id="no-calls"),
    ],
)
def test_calls_list_every_function_call_with_its_column(source: str, expected: list[tuple[str, int]]) -> None:
    assert [(call.name, call.column) for call in parse(source).calls] == expected


def test_expression_is_frozen_and_prints_as_its_source() -> None:
    expression = parse("value >= 70")
    assert str(expression) == "value >= 70"
    with pytest.raises(AttributeError):
        expression.source = "other"  # type: ignore[misc]


def test_equal_sources_give_equal_expressions() -> None:
    assert parse("a && b") == Expression(source="a && b", root=parse("a && b").root)
    assert hash(parse("a && b")) == hash(Expression(source="a && b", root=parse("a && b").root))
