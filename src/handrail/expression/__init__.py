"""The Handrail expression language: safe conditions and derived facts for runbooks.

    >>> from handrail.expression import holds, parse
    >>> expression = parse("value >= 70 && value < 90")
    >>> holds(expression.evaluate({"value": 75}))
    True

Parsing uses a Lark LALR grammar (`grammar.lark`); evaluation walks the tree and never runs Python
code. The language reference for runbook authors is `docs/expressions.md`.
"""

from __future__ import annotations

from handrail.expression.description import describe
from handrail.expression.expression import Expression, Reference
from handrail.expression.function import FUNCTIONS, MAX_REGEX_LENGTH
from handrail.expression.parser import MAX_DEPTH, MAX_LENGTH, parse
from handrail.expression.value import holds

__all__ = [
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
