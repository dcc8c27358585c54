"""The scenario file format (`<runbook>.test.yaml`): the shape, checked strictly like a runbook.

What the names must mean against the runbook (diagnostic ids, names a probe provides, decisions,
remediations) is checked by `scenarios/load.py`; docs/runbook-tests.md describes the format.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from handrail.runbook.model import StrictModel

__all__ = ["ExpectSpec", "ScenarioFileSpec", "ScenarioSpec", "StatusName"]

StatusName = Literal["healthy", "warning", "critical", "unknown", "error"]


class ExpectSpec(StrictModel):
    """What the scenario asserts; a key left out is not checked (at least one must be given)."""

    statuses: dict[str, StatusName] | None = None
    """Diagnostic id -> the status it must read."""
    decisions: list[Any] | None = None
    """Exactly the decisions that fire: 1-based positions in `decisionTree`, descriptions, or `otherwise`."""
    remediations: list[str] | None = None
    """Exactly the planned remediations, in plan order."""
    wait_for_approval: list[str] | None = None
    """Exactly the planned remediations that wait for approval (any order)."""
    escalates: bool | None = None
    """Whether the incident goes to people even when every approval is given and every action succeeds."""

    @model_validator(mode="after")
    def _checks_something(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError(
                "expect checks nothing: give statuses, decisions, remediations, waitForApproval or escalates"
            )
        return self


class ScenarioSpec(StrictModel):
    """One scenario: the alert's labels, what each probe returns, and what must follow."""

    KEY_HINTS: ClassVar[dict[str, str]] = {
        "probes": "write the simulated output under `diagnostics`, keyed by diagnostic id",
        "outputs": "write the simulated output under `diagnostics`, keyed by diagnostic id",
        "expected": "write the expectations under `expect`",
        "expectations": "write the expectations under `expect`",
    }

    name: str = Field(min_length=1, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict)
    """Alert labels, on top of the file's `labels`."""
    diagnostics: dict[str, dict[str, Any]]
    """Diagnostic id -> what its probe returns: raw values by name, or `{error: text}`."""
    expect: ExpectSpec


class ScenarioFileSpec(StrictModel):
    """A scenario file: labels shared by every scenario, and the scenarios."""

    labels: dict[str, str] = Field(default_factory=dict)
    scenarios: list[ScenarioSpec] = Field(min_length=1)
