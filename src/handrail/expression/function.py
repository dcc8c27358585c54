"""The fixed set of functions an expression may call, their argument counts and what they do.

Every function returns null when it is given null: no data in, no data out. Regular expressions
run on RE2 (linear time), because patterns and the text they search can come from alerts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Protocol

import re2

from handrail.errors import ExpressionEvaluationError
from handrail.expression.value import contains, equal, holds, is_number, order, with_article

__all__ = [
    "FUNCTIONS",
    "MAX_REGEX_LENGTH",
    "arity_problem",
    "call_function",
    "regex_problem",
]

MAX_REGEX_LENGTH = 1000
_MAX_ROUND_DIGITS = 100

_Run = Callable[[str, Sequence[object], int], object]


@dataclass(frozen=True, slots=True)
class _Function:
    """One function: how many arguments it takes (`most` None for any number) and its body."""

    least: int
    most: int | None
    run: _Run


def arity_problem(name: str, count: int) -> str | None:
    """Describe what is wrong with calling `name` with `count` arguments, or None if it is fine."""
    function = _TABLE[name]
    if function.least <= count and (function.most is None or count <= function.most):
        return None
    if function.most is None:
        wanted = f"{function.least} or more arguments"
    elif function.least == function.most:
        wanted = f"exactly {function.least} argument{'s' if function.least > 1 else ''}"
    else:
        wanted = f"{function.least} or {function.most} arguments"
    return f"{name}() takes {wanted} ({count} given)"


def regex_problem(pattern: str) -> str | None:
    """Describe why `pattern` cannot be used as a regular expression, or None if it compiles."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"the regular expression is {len(pattern)} characters long; the limit is {MAX_REGEX_LENGTH}"
    try:
        _compile(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "invalid"
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return f"invalid regular expression ({text}); RE2 syntax has no look-around or backreferences"
    except UnicodeError:
        return "the regular expression is not valid Unicode"
    return None


def call_function(name: str, args: Sequence[object], *, column: int) -> object:
    """Run the function `name` on evaluated arguments; null in any argument gives null."""
    if any(arg is None for arg in args):
        return None
    return _TABLE[name].run(name, args, column)


class _Pattern(Protocol):
    """The part of a compiled RE2 pattern this module uses."""

    def search(self, text: str) -> object:
        """Return a match object, or None when the pattern occurs nowhere in `text`."""


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> _Pattern:
    """Compile a pattern with RE2, quietly (RE2 logs failures to stderr by default)."""
    options = re2.Options()
    options.log_errors = False
    compiled: _Pattern = re2.compile(pattern, options)
    return compiled


def _fail(message: str, column: int) -> ExpressionEvaluationError:
    """Build the error a function raises about its arguments."""
    return ExpressionEvaluationError(message, column=column)


def _list_argument(name: str, value: object, column: int) -> Sequence[object]:
    """Return `value` if it is a list, else raise an error naming the function."""
    if isinstance(value, list | tuple):
        return value
    raise _fail(f"{name}() needs a list, not {with_article(value)}", column)


def _string_argument(name: str, value: object, column: int) -> str:
    """Return `value` if it is a string, else raise an error naming the function."""
    if isinstance(value, str):
        return value
    raise _fail(f"{name}() needs a string, not {with_article(value)}", column)


def _numbers(name: str, items: Sequence[object], column: int) -> list[float] | None:
    """Return the items as numbers, None if one is null, or raise if one is not a number."""
    if any(item is None for item in items):
        return None
    for position, item in enumerate(items, start=1):
        if not is_number(item):
            raise _fail(f"{name}() needs numbers, but item {position} is {with_article(item)}", column)
    return [item for item in items if isinstance(item, int | float)]


def _len(name: str, args: Sequence[object], column: int) -> object:
    """len(x): the length of a string, list or mapping."""
    (value,) = args
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _fail(f"len() needs a string, a list or a mapping, not {with_article(value)}", column)


def _count(name: str, args: Sequence[object], column: int) -> object:
    """count(list) is its length; count(list, v) is how many items equal v."""
    items = _list_argument(name, args[0], column)
    if len(args) == 1:
        return len(items)
    return sum(1 for item in items if equal(item, args[1]))


def _sum(name: str, args: Sequence[object], column: int) -> object:
    """sum(list): the total of a list of numbers; 0 for an empty list."""
    numbers = _numbers(name, _list_argument(name, args[0], column), column)
    return None if numbers is None else sum(numbers)


def _avg(name: str, args: Sequence[object], column: int) -> object:
    """avg(list): the mean of a list of numbers; null for an empty list."""
    numbers = _numbers(name, _list_argument(name, args[0], column), column)
    if not numbers:
        return None
    return sum(numbers) / len(numbers)


def _extreme(name: str, args: Sequence[object], column: int) -> object:
    """min/max of one list, or of two or more values: numbers with numbers, strings with strings."""
    if len(args) == 1 and not isinstance(args[0], list | tuple):
        raise _fail(f"{name}() of one argument needs a list, not {with_article(args[0])}", column)
    items: Sequence[object] = args[0] if isinstance(args[0], list | tuple) and len(args) == 1 else args
    if not items or any(item is None for item in items):
        return None
    for item in items:
        order("<", items[0], item, column=column)  # raises unless all are numbers or all strings
    if any(isinstance(item, float) and math.isnan(item) for item in items):
        return math.nan
    better = "<" if name == "min" else ">"
    best = items[0]
    for item in items[1:]:
        if order(better, item, best, column=column):
            best = item
    return best


def _any_all(name: str, args: Sequence[object], column: int) -> object:
    """any/all of a list by truthiness, three-valued; null for an empty list (no evidence)."""
    items = _list_argument(name, args[0], column)
    if not items:
        return None
    decisive = name == "any"  # any() stops at a true item, all() at a false one
    unknown = False
    for item in items:
        if item is None:
            unknown = True
        elif holds(item) == decisive:
            return decisive
    return None if unknown else not decisive


def _abs(name: str, args: Sequence[object], column: int) -> object:
    """abs(x): the magnitude of a number."""
    (value,) = args
    if isinstance(value, int | float) and not isinstance(value, bool):
        return abs(value)
    raise _fail(f"abs() needs a number, not {with_article(value)}", column)


def _round(name: str, args: Sequence[object], column: int) -> object:
    """round(x[, digits]): halves go away from zero, as people round (2.5 -> 3, 2.675 -> 2.68)."""
    value = args[0]
    digits = args[1] if len(args) > 1 else 0
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _fail(f"round() needs a number, not {with_article(value)}", column)
    if not isinstance(digits, int) or isinstance(digits, bool) or abs(digits) > _MAX_ROUND_DIGITS:
        raise _fail(f"round() needs a whole number of digits from -100 to 100, not {digits!r}", column)
    if isinstance(value, float) and not math.isfinite(value):
        return value
    # repr() gives the shortest decimal that reads back as the float, which is what the author saw.
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    with localcontext() as context:
        context.prec = max(len(str(abs(int(value)))) + _MAX_ROUND_DIGITS + 30, 28)
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if len(args) == 1 or isinstance(value, int):
        return int(rounded)
    return float(rounded)


def _contains(name: str, args: Sequence[object], column: int) -> object:
    """contains(haystack, needle): a substring, a list item or a mapping key."""
    return contains(args[0], args[1], column=column, what="contains()")


def _affix(name: str, args: Sequence[object], column: int) -> object:
    """startswith/endswith(text, affix) on strings."""
    text = _string_argument(name, args[0], column)
    affix = _string_argument(name, args[1], column)
    return text.startswith(affix) if name == "startswith" else text.endswith(affix)


def _matches(name: str, args: Sequence[object], column: int) -> object:
    """matches(text, regex): whether RE2 finds the pattern anywhere in the text (use ^...$ to anchor)."""
    text = _string_argument(name, args[0], column)
    pattern = _string_argument(name, args[1], column)
    problem = regex_problem(pattern)
    if problem is not None:
        raise _fail(problem, column)
    try:
        return _compile(pattern).search(text) is not None
    except UnicodeError as exc:
        raise _fail("matches() cannot search text that is not valid Unicode", column) from exc


def _case(name: str, args: Sequence[object], column: int) -> object:
    """lower/upper(text) on strings."""
    text = _string_argument(name, args[0], column)
    return text.lower() if name == "lower" else text.upper()


def _number(name: str, args: Sequence[object], column: int) -> object:
    """number(x): a number, or a string holding one ('0.5', 'NaN', '+Inf' as Prometheus writes them)."""
    (value,) = args
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if "_" in text:  # float() would read '1_000'; a metric value never looks like that
                raise ValueError(text)
            return float(text)
        except ValueError:
            raise _fail(f"number() cannot read {value[:50]!r} as a number", column) from None
    raise _fail(f"number() needs a number or a string, not {with_article(value)}", column)


_TABLE: Mapping[str, _Function] = {
    "abs": _Function(1, 1, _abs),
    "all": _Function(1, 1, _any_all),
    "any": _Function(1, 1, _any_all),
    "avg": _Function(1, 1, _avg),
    "contains": _Function(2, 2, _contains),
    "count": _Function(1, 2, _count),
    "endswith": _Function(2, 2, _affix),
    "len": _Function(1, 1, _len),
    "lower": _Function(1, 1, _case),
    "matches": _Function(2, 2, _matches),
    "max": _Function(1, None, _extreme),
    "min": _Function(1, None, _extreme),
    "number": _Function(1, 1, _number),
    "round": _Function(1, 2, _round),
    "startswith": _Function(2, 2, _affix),
    "sum": _Function(1, 1, _sum),
    "upper": _Function(1, 1, _case),
}

FUNCTIONS: frozenset[str] = frozenset(_TABLE)
