"""HR403: an interpret status that can never be the status, because an earlier one always holds first.

Checked exactly for the common shape: every status compares one number (`value`, `since_deploy`)
with numeric literals, joined by and/or/not. Such conditions only change truth at the literals,
so evaluating them on each literal, between neighbours and beyond both ends covers every case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from handrail.errors import ExpressionEvaluationError
from handrail.expression import Expression, holds
from handrail.expression.node import Comparison, Literal, Logical, Name, Node, Unary
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath

__all__ = ["check_unreachable_statuses"]

_ORDER = ("critical", "warning", "healthy")
_NUMERIC_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})


def check_unreachable_statuses(
    runbook: Runbook, document: Document, parsed: dict[DocumentPath, Expression]
) -> list[Problem]:
    """One warning per status that no value of the compared number can reach."""
    problems = []
    for index in range(len(runbook.diagnostics)):
        statuses = {
            status: parsed[("diagnostics", index, "interpret", status)]
            for status in _ORDER
            if ("diagnostics", index, "interpret", status) in parsed
        }
        for status, reason in _unreachable(statuses):
            at = ("diagnostics", index, "interpret", status)
            problems.append(Problem(document.path, document.position(at), "HR403", f"{status} {reason}"))
    return problems


def _unreachable(statuses: dict[str, Expression]) -> Iterator[tuple[str, str]]:
    shapes = [_single_number_condition(expression.root) for expression in statuses.values()]
    names = {shape[0] for shape in shapes if shape is not None}
    if len(shapes) < 2 or None in shapes or len(names) != 1:
        return
    name = names.pop()
    literals = sorted({value for shape in shapes if shape is not None for value in shape[1]})
    samples = _samples(literals)
    truth = {status: [_holds(expr, name, sample) for sample in samples] for status, expr in statuses.items()}
    earlier: list[str] = []
    for status in _ORDER:
        if status not in truth:
            continue
        if not any(truth[status]):
            yield status, f"can never hold: no value of {name} satisfies `{statuses[status].source}`"
        elif earlier and not any(
            truth[status][i] and not any(truth[e][i] for e in earlier) for i in range(len(samples))
        ):
            before = " or ".join(earlier)
            yield status, f"is never reached: whenever `{statuses[status].source}` holds, {before} holds first"
        earlier.append(status)


def _single_number_condition(node: Node) -> tuple[str, set[float]] | None:
    """(name, literals) when `node` compares one name with numbers through and/or/not only."""
    match node:
        case (
            Comparison(op=op, left=Name(name=name), right=Literal(value=value))
            | Comparison(op=op, left=Literal(value=value), right=Name(name=name))
        ) if op in _NUMERIC_COMPARISONS and isinstance(value, int | float) and not isinstance(value, bool):
            return name, {float(value)}
        case Logical(left=left, right=right):
            a, b = _single_number_condition(left), _single_number_condition(right)
            if a is None or b is None or a[0] != b[0]:
                return None
            return a[0], a[1] | b[1]
        case Unary(op="not", operand=operand):
            return _single_number_condition(operand)
    return None


def _samples(literals: list[float]) -> list[float]:
    points = [literals[0] - 1.0]
    for low, high in itertools.pairwise(literals):
        points += [low, (low + high) / 2]
    return [*points, literals[-1], literals[-1] + 1.0]


def _holds(expression: Expression, name: str, sample: float) -> bool:
    try:
        return holds(expression.evaluate({name: sample}))
    except ExpressionEvaluationError:
        return False
