"""Checks that need the decision tree evaluated: what fires when every diagnostic fails."""

from __future__ import annotations

from handrail.errors import ExpressionEvaluationError
from handrail.expression import Expression, holds
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath

__all__ = ["check_all_errors_reachable"]


def check_all_errors_reachable(
    runbook: Runbook, document: Document, parsed: dict[DocumentPath, Expression]
) -> list[Problem]:
    """HR402: when every probe fails (Prometheus down, say), some decision should still fire."""
    if not runbook.decision_tree or any(decision.otherwise for decision in runbook.decision_tree):
        return []
    context = {
        "diagnostics": {
            d.id: {"status": "error", "message": "failed", "name": d.name, "durationMs": 0} for d in runbook.diagnostics
        },
        "labels": {},
    }
    for index in range(len(runbook.decision_tree)):
        expression = parsed.get(("decisionTree", index, "condition"))
        if expression is None:
            return []  # a condition that does not parse is reported already; don't guess
        try:
            if holds(expression.evaluate(context)):
                return []
        except ExpressionEvaluationError:
            continue
    message = (
        "no decision fires when every diagnostic errors (for example, Prometheus is down); "
        "add a decision with `otherwise: true` or one on `status == 'error'` that escalates"
    )
    return [Problem(document.path, document.position(("decisionTree",), key=True), "HR402", message)]
