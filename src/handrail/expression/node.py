"""The syntax tree of a parsed expression: small frozen nodes, each with the column it starts at.

Columns are 1-based character offsets into the expression text. An operator node carries the
column of its operator (so `a / b` points at `/` when `b` is zero), a name or call the column of
its name, an attribute the column of the field name after the dot, an index the column of `[`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Attribute",
    "Binary",
    "Call",
    "Comparison",
    "Index",
    "ListLiteral",
    "Literal",
    "LiteralValue",
    "Logical",
    "Name",
    "Node",
    "Unary",
    "children",
    "static_path",
]

LiteralValue: TypeAlias = bool | int | float | str | None


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, duration, string, `true`, `false` or `null`; `text` is how it reads in source form."""

    value: LiteralValue
    text: str
    column: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """A list written in brackets: `[1, 'a', x]`."""

    items: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Name:
    """A root name looked up in the context: `value`, `diagnostics`."""

    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Attribute:
    """A field of a mapping: `target.name`."""

    target: Node
    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Index:
    """An item of a list or a mapping: `target[index]`."""

    target: Node
    index: Node
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    """A call of one of the fixed functions: `name(args...)`."""

    name: str
    args: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Unary:
    """A prefix operator: `op` is `-` or `not` (written `!` or `not`)."""

    op: str
    operand: Node
    column: int


@dataclass(frozen=True, slots=True)
class Binary:
    """An arithmetic operator: `op` is one of `+ - * / %`."""

    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """A comparison: `op` is one of `== != < <= > >= in`, `not in` (`===` reads as `==`)."""

    op: str
    left: Node
    right: Node
    column: int


@dataclass(frozen=True, slots=True)
class Logical:
    """A three-valued logic operator: `op` is `and` or `or` (written `&&`/`and`, `||`/`or`)."""

    op: str
    left: Node
    right: Node
    column: int


Node: TypeAlias = Literal | ListLiteral | Name | Attribute | Index | Call | Unary | Binary | Comparison | Logical


def children(node: Node) -> Iterator[Node]:
    """Yield the direct sub-nodes of `node` in source order."""
    match node:
        case ListLiteral(items=items) | Call(args=items):
            yield from items
        case Attribute(target=target):
            yield target
        case Index(target=target, index=index):
            yield target
            yield index
        case Unary(operand=operand):
            yield operand
        case Binary(left=left, right=right) | Comparison(left=left, right=right):
            yield left
            yield right
        case Logical(left=left, right=right):
            yield left
            yield right
        case Literal() | Name():
            return


def static_path(node: Node) -> tuple[str | int, ...] | None:
    """Return the path of a name with only fields and literal indexes after it, else None."""
    steps: list[str | int] = []
    current = node
    while True:
        match current:
            case Name(name=name):
                steps.append(name)
                steps.reverse()
                return tuple(steps)
            case Attribute(target=target, name=name):
                steps.append(name)
                current = target
            case Index(target=target, index=Literal(value=str() | int() as key)) if not isinstance(key, bool):
                steps.append(key)
                current = target
            case _:
                return None
