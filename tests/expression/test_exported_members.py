"""The public API of handrail.expression is exactly what the docs promise."""

from __future__ import annotations

import handrail.expression
from handrail.expression import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, MAX_REGEX_LENGTH


def test_all_lists_exactly_the_public_names_in_order() -> None:
    assert handrail.expression.__all__ == [
        "FUNCTIONS",
        "MAX_DEPTH",
        "MAX_LENGTH",
        "MAX_REGEX_LENGTH",
        "Expression",
        "Reference",
        "describe",
        "holds",
        "parse",
    ]
    # Sorted the way ruff's RUF022 sorts: CONSTANTS, then Classes, then functions.
    kinds = sorted(handrail.expression.__all__, key=lambda name: (not name.isupper(), name.islower(), name))
    assert handrail.expression.__all__ == kinds


def test_every_exported_name_exists() -> None:
    for name in handrail.expression.__all__:
        assert hasattr(handrail.expression, name), name


def test_limits_have_their_documented_values() -> None:
    assert (MAX_LENGTH, MAX_DEPTH, MAX_REGEX_LENGTH) == (4096, 64, 1000)
    assert isinstance(FUNCTIONS, frozenset)
