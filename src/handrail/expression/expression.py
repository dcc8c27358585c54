"""A parsed expression: its text, its tree, the names and calls in it, and how to evaluate it.

`references` is what a linter needs: each maximal static path (`diagnostics.check_db.status`,
`series[0].labels.pod`) with the column of its root name, so that it can check the root exists,
that `diagnostics.<id>` names a real diagnostic, and point at the place when it does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from handrail.expression.description import quote
from handrail.expression.evaluator import evaluate_node
from handrail.expression.node import Call, Node, children, static_path

__all__ = ["Expression", "Reference"]


@dataclass(frozen=True, slots=True)
class Reference:
    """A name path as written, like `("series", 0, "labels", "pod")`, at the column of its root name.

    A computed index ends the path: `x[y].z` refers to `("x",)` and `("y",)`.
    """

    path: tuple[str | int, ...]
    column: int

    @property
    def root(self) -> str:
        """Return the root name, the one looked up in the context."""
        root = self.path[0]
        assert isinstance(root, str)
        return root

    def __str__(self) -> str:
        """Render the path in source form: `series[0].labels.pod`."""
        text = str(self.path[0])
        for step in self.path[1:]:
            if isinstance(step, int):
                text += f"[{step}]"
            elif step.isidentifier() and step.isascii():
                text += f".{step}"
            else:
                text += f"[{quote(step)}]"
        return text


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression, made by `parse`; evaluating it never runs Python code."""

    source: str
    root: Node

    @property
    def references(self) -> tuple[Reference, ...]:
        """Return every name path as written, in source order."""
        return tuple(_references(self.root))

    @property
    def calls(self) -> tuple[Call, ...]:
        """Return every function call, in source order."""
        return tuple(_calls(self.root))

    def evaluate(self, context: Mapping[str, object]) -> object:
        """Evaluate against JSON-like values; raise ExpressionEvaluationError on a failure.

        Args:
            context: the root names an expression may use, each with a plain value
                (None, bool, int, float, str, list, dict).

        Returns:
            A plain value; None is null, "no data". Use `holds` to read it as a condition.
        """
        return evaluate_node(self.root, context)

    def __str__(self) -> str:
        """Return the source text."""
        return self.source


def _references(node: Node) -> Iterator[Reference]:
    """Yield the maximal static paths under `node`, in source order."""
    path = static_path(node)
    if path is not None:
        yield Reference(path=path, column=_root_column(node))
        return
    for child in children(node):
        yield from _references(child)


def _root_column(node: Node) -> int:
    """Return the column of the name at the root of a static path."""
    current = node
    while True:
        following = next(children(current), None)
        if following is None:
            return current.column
        current = following


def _calls(node: Node) -> Iterator[Call]:
    """Yield every call under `node`, outer before inner, in source order."""
    if isinstance(node, Call):
        yield node
    for child in children(node):
        yield from _calls(child)
