"""The context and the comparison helper the expression tests share."""

from __future__ import annotations

import math

CONTEXT: dict[str, object] = {
    "value": 75,
    "zero": 0,
    "missing": None,
    "nan": math.nan,
    "inf": math.inf,
    "name": "payment-service",
    "text": "",
    "values": [1, 2, 3, 4],
    "empty": [],
    "nulls": [1, None],
    "flags": [True, False],
    "labels": {"app": "payments", "team": "core"},
    "nested": {"a": {"b": [10, 20]}},
    "series": [
        {"labels": {"pod": "api-1", "app": "api"}, "value": 0.5},
        {"labels": {"pod": "api-2"}, "value": 2},
    ],
    "diagnostics": {"check_db_connections": {"status": "critical", "value": 95}},
}


def assert_same(actual: object, expected: object) -> None:
    """Assert equal values of the same type all the way down (1, 1.0 and True all differ)."""
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(actual, float)
        assert math.isnan(actual)
        return
    assert type(actual) is type(expected), f"{actual!r} is a {type(actual).__name__}, not {expected!r}"
    if isinstance(expected, list):
        assert isinstance(actual, list)
        assert len(actual) == len(expected)
        for item, wanted in zip(actual, expected, strict=True):
            assert_same(item, wanted)
    else:
        assert actual == expected
