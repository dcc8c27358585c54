"""What the scenario tests share: the tiny runbook and its fixture folder."""

from __future__ import annotations

from pathlib import Path

from handrail.lint import lint_file
from handrail.runbook.model import Runbook

__all__ = ["FIXTURES", "INVALID", "TINY", "load_runbook"]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "scenarios"
INVALID = FIXTURES / "invalid"
TINY = FIXTURES / "tiny.yaml"


def load_runbook(path: Path = TINY) -> Runbook:
    result = lint_file(path)
    assert result.runbook is not None, [str(p) for p in result.problems]
    return result.runbook
