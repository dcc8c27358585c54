"""What the language's values mean: truth, strict equality, ordering and membership.

Values are plain JSON-like Python values (None, bool, int, float, str, list, dict). `None` is
`null`: no data. The rules here never coerce between types the way JavaScript does, and a
boolean is never a number, even though Python's `bool` is a subclass of `int`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from handrail.errors import ExpressionEvaluationError

__all__ = [
    "contains",
    "equal",
    "holds",
    "is_number",
    "order",
    "type_name",
    "with_article",
]

_ORDERINGS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def holds(value: object) -> bool:
    """Return True iff `value` is not null and truthy: how a condition decides; null never holds."""
    return value is not None and bool(value)


def is_number(value: object) -> bool:
    """Return True for an int or a float, never for a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def type_name(value: object) -> str:
    """Name the language type of `value` for error messages: `number`, `list`, `mapping`..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def with_article(value: object) -> str:
    """Return the type name of `value` with `a` or `an` in front: `a list`, `an int`."""
    name = type_name(value)
    return f"an {name}" if name[:1] in ("a", "e", "i", "o", "u") else f"a {name}"


def equal(left: object, right: object) -> bool:
    """Strict equality: numbers by value, bools only with bools, lists and mappings item by item."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(equal(left[key], right[key]) for key in left)
    if left is None or right is None:
        return left is None and right is None
    return left is right


def order(op: str, left: object, right: object, *, column: int) -> bool:
    """Compare two numbers or two strings with `< <= > >=`; other pairs are an error."""
    if (is_number(left) and is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        # Python's own ordering is right once the types match; NaN compares false (IEEE 754).
        return bool(_ORDERINGS[op](left, right))
    raise ExpressionEvaluationError(
        f"cannot compare {with_article(left)} with {with_article(right)} using '{op}'{_bool_hint(left, right)}",
        column=column,
    )


def contains(container: object, item: object, *, column: int, what: str) -> bool:
    """Return whether `item` is in a list (by equality), a string (substring) or a mapping (key)."""
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionEvaluationError(
                f"{what} looks for a substring, so it needs a string, not {with_article(item)}",
                column=column,
            )
        return item in container
    if isinstance(container, list | tuple):
        return any(equal(candidate, item) for candidate in container)
    if isinstance(container, Mapping):
        if not isinstance(item, str):
            raise ExpressionEvaluationError(
                f"{what} looks for a key of a mapping, so it needs a string, not {with_article(item)}",
                column=column,
            )
        return item in container
    raise ExpressionEvaluationError(
        f"{what} needs a list, a string or a mapping to look in, not {with_article(container)}",
        column=column,
    )


def _bool_hint(left: object, right: object) -> str:
    """Explain, when a boolean is involved, that booleans are not numbers here."""
    if isinstance(left, bool) or isinstance(right, bool):
        return " (booleans are not numbers)"
    return ""
