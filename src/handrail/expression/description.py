"""Render a parsed expression back to source form, or describe it in English for `handrail explain`.

`describe` turns the logic and the comparisons into words (`value is at least 70 and value is below
90`) and keeps everything else in source form: names, literals as written (`1000ms`, `'critical'`),
arithmetic and function calls. Parentheses appear where the tree's shape needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from handrail.expression.node import (
    Attribute,
    Binary,
    Call,
    Comparison,
    Index,
    ListLiteral,
    Literal,
    Logical,
    Name,
    Node,
    Unary,
    static_path,
)

if TYPE_CHECKING:
    from handrail.expression.expression import Expression

__all__ = ["NameRenderer", "describe", "quote", "render"]

NameRenderer: TypeAlias = Callable[[tuple[str | int, ...]], str | None]

_LOOSEST = 1
_NOT = 3
_COMPARISON = 4
_SUM = 5
_PRODUCT = 6
_NEGATION = 7
_POSTFIX = 8
_BINARY_PRECEDENCE = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "%": _PRODUCT}
_LOGICAL_PRECEDENCE = {"or": 1, "and": 2}
_LOGICAL_SYMBOLS = {"or": "||", "and": "&&"}
_COMPARISON_WORDS = {
    "==": "is",
    "!=": "is not",
    "<": "is below",
    "<=": "is at most",
    ">": "is above",
    ">=": "is at least",
    "in": "is in",
    "not in": "is not in",
}


def render(node: Node) -> str:
    """Write `node` in source form, with canonical operators and only the parentheses it needs."""
    return _code(node, _LOOSEST, None)


def describe(expression: Expression, *, name: NameRenderer | None = None) -> str:
    """Describe an expression in English, for people reading a runbook's logic.

    Args:
        expression: a parsed expression.
        name: renders a reference path its own way, e.g. `("diagnostics", "check_db", "status")`
            as "Database Connection Pool status"; returning None keeps the path as written.

    Returns:
        One line of English, e.g. "value is at least 70 and value is below 90".
    """
    return _english(expression.root, _LOOSEST, name)


def quote(value: str) -> str:
    """Write a string in source form with single quotes, escaped so that it reads back the same."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return f"'{escaped}'"


def _precedence(node: Node) -> int:
    """Return how tightly `node`'s outermost operator binds."""
    match node:
        case Logical(op=op):
            return _LOGICAL_PRECEDENCE[op]
        case Unary(op="not"):
            return _NOT
        case Unary():
            return _NEGATION
        case Comparison():
            return _COMPARISON
        case Binary(op=op):
            return _BINARY_PRECEDENCE[op]
        case _:
            return _POSTFIX


def _wrap(text: str, node: Node, minimum: int) -> str:
    """Parenthesize `text` when `node` binds more loosely than its place requires."""
    return f"({text})" if _precedence(node) < minimum else text


def _english(node: Node, minimum: int, name: NameRenderer | None) -> str:
    """Describe logic and comparisons in words; hand everything else to the source form."""
    match node:
        case Logical(op=op, left=left, right=right):
            own = _LOGICAL_PRECEDENCE[op]
            text = f"{_english(left, own, name)} {op} {_english(right, own + 1, name)}"
        case Unary(op="not", operand=operand):
            # Tighter than the grammar needs: "not (a is below b)" reads better than "not a is below b".
            text = f"not {_english(operand, _SUM, name)}"
        case Comparison(op=op, left=left, right=right):
            text = _comparison_words(op, left, right, name)
        case _:
            return _code(node, minimum, name)
    return _wrap(text, node, minimum)


def _comparison_words(op: str, left: Node, right: Node, name: NameRenderer | None) -> str:
    """Describe one comparison: `x is at least 70`, `x is missing`, `x is present`."""
    if op in ("==", "!=") and (_is_null(left) or _is_null(right)):
        subject = right if _is_null(left) else left
        state = "missing" if op == "==" else "present"
        return f"{_english(subject, _SUM, name)} is {state}"
    return f"{_english(left, _SUM, name)} {_COMPARISON_WORDS[op]} {_english(right, _SUM, name)}"


def _is_null(node: Node) -> bool:
    """Return whether `node` is the literal `null`."""
    return isinstance(node, Literal) and node.value is None


def _code(node: Node, minimum: int, name: NameRenderer | None) -> str:
    """Write `node` in source form; `name` (if given) renders references outside function calls."""
    if name is not None:
        path = static_path(node)
        if path is not None:
            custom = name(path)
            if custom is not None:
                return custom
            name = None  # the whole path is written as is; its parts are not references of their own
    match node:
        case Literal(text=literal):
            text = literal
        case ListLiteral(items=items):
            text = "[" + ", ".join(_code(item, _LOOSEST, name) for item in items) + "]"
        case Name(name=root):
            text = root
        case Attribute(target=target, name=field):
            text = f"{_code(target, _POSTFIX, name)}.{field}"
        case Index(target=target, index=index):
            text = f"{_code(target, _POSTFIX, name)}[{_code(index, _LOOSEST, name)}]"
        case Call(name=function, args=args):
            # Functions are written as the author wrote them, references inside included.
            text = f"{function}(" + ", ".join(_code(arg, _LOOSEST, None) for arg in args) + ")"
        case Unary(op="not", operand=operand):
            text = f"!{_code(operand, _NOT, name)}"
        case Unary(operand=operand):
            text = f"-{_code(operand, _NEGATION, name)}"
        case Binary(op=op, left=left, right=right):
            own = _BINARY_PRECEDENCE[op]
            text = f"{_code(left, own, name)} {op} {_code(right, own + 1, name)}"
        case Comparison(op=op, left=left, right=right):
            text = f"{_code(left, _SUM, name)} {op} {_code(right, _SUM, name)}"
        case Logical(op=op, left=left, right=right):
            own = _LOGICAL_PRECEDENCE[op]
            text = f"{_code(left, own, name)} {_LOGICAL_SYMBOLS[op]} {_code(right, own + 1, name)}"
    return _wrap(text, node, minimum)
