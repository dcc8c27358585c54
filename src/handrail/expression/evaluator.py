"""Evaluate a node tree against a context of plain values, with three-valued logic.

The rule throughout is that no data never reads as healthy: null in a comparison, in arithmetic,
in a function or behind a field gives null, and `&&`, `||`, `!` follow Kleene's logic, so that
`null && true` is null (and a condition on it does not hold) while `null && false` is false.
Only a comparison with a literal `null` asks about presence: `x == null`, `x != null`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from handrail.errors import ExpressionEvaluationError
from handrail.expression.description import render
from handrail.expression.function import call_function
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
)
from handrail.expression.value import contains, equal, holds, order, with_article

__all__ = ["evaluate_node"]


def evaluate_node(node: Node, context: Mapping[str, object]) -> object:
    """Evaluate `node` with `context` as its root names; raise ExpressionEvaluationError on failure."""
    try:
        return _Evaluation(context).value(node)
    except RecursionError as exc:  # only a pathologically nested context value can get here
        raise ExpressionEvaluationError("a value in the context is nested too deeply", column=1) from exc


def _truth(value: object) -> bool | None:
    """Read a value as three-valued truth: null stays unknown, anything else by truthiness."""
    return None if value is None else holds(value)


def _is_null_literal(node: Node) -> bool:
    """Return whether `node` is the literal `null` as written."""
    return isinstance(node, Literal) and node.value is None


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """One evaluation against one context."""

    context: Mapping[str, object]

    def value(self, node: Node) -> object:
        """Return the value of `node`."""
        match node:
            case Literal(value=value):
                return value
            case ListLiteral(items=items):
                return [self.value(item) for item in items]
            case Name():
                return self._name(node)
            case Attribute():
                return self._attribute(node)
            case Index():
                return self._index(node)
            case Call(name=name, args=args, column=column):
                values = [self.value(arg) for arg in args]
                try:
                    return call_function(name, values, column=column)
                except OverflowError as exc:
                    message = f"{name}(): a number is too large"
                    raise ExpressionEvaluationError(message, column=column) from exc
            case Unary():
                return self._unary(node)
            case Binary():
                return self._binary(node)
            case Comparison():
                return self._comparison(node)
            case Logical():
                return self._logical(node)

    def _name(self, node: Name) -> object:
        """Look a root name up in the context; a name that is not there is an error."""
        if node.name in self.context:
            return self.context[node.name]
        known = sorted(key for key in self.context if isinstance(key, str))
        close = difflib.get_close_matches(node.name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ExpressionEvaluationError(f"unknown name '{node.name}'{hint}", column=node.column)

    def _attribute(self, node: Attribute) -> object:
        """Read a field of a mapping; a missing field, or a field of null, is null."""
        target = self.value(node.target)
        if target is None:
            return None
        if isinstance(target, Mapping):
            return target.get(node.name)
        shown = render(node.target)
        if isinstance(target, list | tuple):
            hint = f"{shown} is a list; index it first: {shown}[0].{node.name}"
        else:
            hint = f"{shown} is {with_article(target)}, which has no fields (looking for '{node.name}')"
        raise ExpressionEvaluationError(hint, column=node.column)

    def _index(self, node: Index) -> object:
        """Read a list item by position or a mapping value by key; out of range or missing is null."""
        target = self.value(node.target)
        key = self.value(node.index)
        if target is None or key is None:
            return None
        shown = render(node.target)
        if isinstance(target, list | tuple):
            if isinstance(key, int) and not isinstance(key, bool):
                # A negative position counts from the end, as in Python and jq: series[-1] is the last.
                return target[key] if -len(target) <= key < len(target) else None
            message = f"{shown} is a list; index it with a whole number, not {with_article(key)}"
        elif isinstance(target, Mapping):
            if isinstance(key, str):
                return target.get(key)
            message = f"{shown} is a mapping; index it with a string key, not {with_article(key)}"
        else:
            message = f"{shown} is {with_article(target)}; only lists and mappings can be indexed"
        raise ExpressionEvaluationError(message, column=node.column)

    def _unary(self, node: Unary) -> object:
        """Apply `not` (three-valued) or `-` (numbers only)."""
        operand = self.value(node.operand)
        if node.op == "not":
            truth = _truth(operand)
            return None if truth is None else not truth
        if operand is None:
            return None
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            return -operand
        message = f"'-' needs a number, not {with_article(operand)}"
        raise ExpressionEvaluationError(message, column=node.column)

    def _binary(self, node: Binary) -> object:
        """Apply `+ - * / %` to numbers (and `+` to two strings or two lists); null gives null."""
        left, right = self.value(node.left), self.value(node.right)
        if left is None or right is None:
            return None
        try:
            return _arithmetic(node.op, left, right, column=node.column)
        except OverflowError as exc:
            raise ExpressionEvaluationError(
                f"the result of '{node.op}' is too large for a number", column=node.column
            ) from exc

    def _comparison(self, node: Comparison) -> object:
        """Compare; a literal `null` asks about presence, any other null operand gives null."""
        if node.op in ("==", "!=") and (_is_null_literal(node.left) or _is_null_literal(node.right)):
            other = node.right if _is_null_literal(node.left) else node.left
            present = self.value(other) is not None
            return present if node.op == "!=" else not present
        left, right = self.value(node.left), self.value(node.right)
        if left is None or right is None:
            return None
        if node.op == "==":
            return equal(left, right)
        if node.op == "!=":
            return not equal(left, right)
        if node.op in ("in", "not in"):
            found = contains(right, left, column=node.column, what=f"'{node.op}'")
            return found if node.op == "in" else not found
        return order(node.op, left, right, column=node.column)

    def _logical(self, node: Logical) -> object:
        """Kleene's `and`/`or`: the deciding value wins over null, and the right side may be skipped."""
        decisive = node.op == "or"  # `or` is decided by a true side, `and` by a false one
        left = _truth(self.value(node.left))
        if left is decisive:
            return decisive
        right = _truth(self.value(node.right))
        if right is decisive:
            return decisive
        if left is None or right is None:
            return None
        return not decisive


def _arithmetic(op: str, left: object, right: object, *, column: int) -> object:
    """Compute `left op right` for two non-null values, refusing every mix of types but a few."""
    if (
        isinstance(left, int | float)
        and isinstance(right, int | float)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    ):
        return _number_arithmetic(op, left, right, column=column)
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if op == "+" and isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return [*left, *right]
    wanted = "two numbers, two strings or two lists" if op == "+" else "two numbers"
    note = " (booleans are not numbers)" if isinstance(left, bool) or isinstance(right, bool) else ""
    raise ExpressionEvaluationError(
        f"'{op}' needs {wanted}, not {with_article(left)} and {with_article(right)}{note}", column=column
    )


def _number_arithmetic(op: str, left: float, right: float, *, column: int) -> float:
    """Compute `left op right` for two numbers (ints stay ints except under `/`)."""
    if op in ("/", "%") and right == 0:
        raise ExpressionEvaluationError("division by zero", column=column)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    return left % right
