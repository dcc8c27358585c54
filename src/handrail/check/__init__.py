"""`handrail check`: runbooks against the live systems they name, read-only (docs/check.md)."""

from __future__ import annotations

from handrail.check.base import Checker, Finding, Subject, Unreachable
from handrail.check.live import LiveCheck
from handrail.check.run import (
    DEFAULT_CONCURRENCY,
    CheckResult,
    Connections,
    LiveCheckers,
    check_paths,
    create_checkers,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "CheckResult",
    "Checker",
    "Connections",
    "Finding",
    "LiveCheck",
    "LiveCheckers",
    "Subject",
    "Unreachable",
    "check_paths",
    "create_checkers",
]
