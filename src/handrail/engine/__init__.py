"""The engine: assessments now; durable incidents with the incident issue (#4)."""

from __future__ import annotations

from handrail.engine.assessment import (
    Assessment,
    AssessmentObserver,
    DecisionResult,
    DiagnosticResult,
    Status,
    TimelineEvent,
    assess,
    overall_severity,
)

__all__ = [
    "Assessment",
    "AssessmentObserver",
    "DecisionResult",
    "DiagnosticResult",
    "Status",
    "TimelineEvent",
    "assess",
    "overall_severity",
]
