"""The runbook format: the reference schema's fields, names, enums and defaults, plus our additions.

Field names are camelCase in files (as in the reference write-up) and snake_case in Python.
Everything here is about shape; what the fields must mean together (ids that exist, names a
diagnostic provides) is checked by `handrail.lint`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasGenerator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

__all__ = [
    "ACTION_TYPES",
    "DIAGNOSTIC_TYPES",
    "MAX_DURATION_DAYS",
    "MAX_DURATION_SECONDS",
    "Action",
    "Decision",
    "Diagnostic",
    "Duration",
    "Escalation",
    "Hours",
    "Interpret",
    "Minutes",
    "RateLimit",
    "Remediation",
    "Runbook",
    "Safety",
    "StrictModel",
    "Trigger",
    "Verify",
    "parse_duration",
]

DIAGNOSTIC_TYPES = (
    "prometheus_query",
    "http_check",
    "shell_command",
    "database_query",
    "log_search",
    "tls_certificate",
)
ACTION_TYPES = ("restart_service", "scale_up", "rollback", "flush_cache", "run_script", "notify")

DiagnosticType = Literal[
    "prometheus_query", "http_check", "shell_command", "database_query", "log_search", "tls_certificate"
]
ActionType = Literal["restart_service", "scale_up", "rollback", "flush_cache", "run_script", "notify"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """Seconds from a number or a string like `500ms`, `30s`, `5m`, `2h`, `1d` (others pass through)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"'{value}' is not a duration (a number of seconds, or like 500ms, 30s, 5m, 2h, 1d)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


MAX_DURATION_DAYS = 366
"""The longest duration anything takes, in runbooks and settings: a year (and a day). Longer is a mistake, and an
infinite or huge one (`.inf`, `1e308`) overflows the timers that wait for it, leaving an incident stuck (#13)."""
MAX_DURATION_SECONDS = MAX_DURATION_DAYS * 86400.0


def _finite_up_to(limit: float) -> Any:
    """The one bound every duration shares: a finite number, at most `MAX_DURATION_DAYS` in its unit."""
    return Field(allow_inf_nan=False, le=limit)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    _finite_up_to(MAX_DURATION_SECONDS),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_SECONDS},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"},
            ],
            "description": f"seconds, or a duration like 500ms, 30s, 5m, 2h, 1d; at most {MAX_DURATION_DAYS} days",
        }
    ),
]
"""A positive number of seconds, written as a number or as `500ms 30s 5m 2h 1d`; at most `MAX_DURATION_DAYS`."""

Minutes = Annotated[float, Field(ge=0), _finite_up_to(MAX_DURATION_SECONDS / 60)]
"""A number of minutes (`escalateAfterMinutes`, `cooldownMinutes`): finite, at most `MAX_DURATION_DAYS` days."""

Hours = Annotated[float, Field(gt=0), _finite_up_to(MAX_DURATION_SECONDS / 3600)]
"""A positive number of hours, finite, at most `MAX_DURATION_DAYS` days."""

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=128)]
Text = Annotated[str, Field(min_length=1)]


def _expression_text(value: object) -> object:
    """YAML reads `healthy: true` or `limit: 90` as a bool or number; as expressions they are text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return value


Expression = Annotated[str, BeforeValidator(_expression_text), Field(min_length=1)]
"""Text in the expression language (docs/expressions.md); a bare YAML bool or number is taken as text."""


class StrictModel(BaseModel):
    """Base of every model read from a file: camelCase keys, no unknown keys, no silent coercion."""

    KEY_HINTS: ClassVar[Mapping[str, str]] = {}
    """Unknown keys people commonly write, and what to write instead (shown in place of "did you mean")."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        validate_by_alias=True,
        validate_by_name=False,
    )


class Trigger(StrictModel):
    """What starts the runbook: an alert by name, a person, or a metric crossing a threshold."""

    type: Literal["alert", "manual", "metric_threshold"]
    alert_name: str | None = None
    metric_query: str | None = None
    threshold: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    """Alert label matchers: `value` is exact, `=~regex` / `!~regex` match fully, `!=value` excludes."""


class Interpret(StrictModel):
    """How to read a diagnostic's result: the first of critical, warning, healthy that holds.

    The reference schema has all three; `warning` and `critical` may be left out where a check
    has no such state (a missing one never holds).
    """

    healthy: Expression
    warning: Expression | None = None
    critical: Expression | None = None


class Diagnostic(StrictModel):
    """One piece of evidence, collected automatically when the runbook runs."""

    id: Identifier
    name: Text
    description: str
    type: DiagnosticType
    config: dict[str, Any]
    timeout: Duration = 30.0
    interpret: Interpret
    derive: dict[str, Expression] = Field(default_factory=dict)


class Decision(StrictModel):
    """A branch of the decision tree: when `condition` holds, plan the remediations in `then`."""

    condition: Expression | None = None
    then: list[Slug]
    description: str
    otherwise: bool = False


class Action(StrictModel):
    """What an automated remediation does."""

    type: ActionType
    config: dict[str, Any]


class Verify(StrictModel):
    """How the engine checks that a remediation worked: wait, then run diagnostics again."""

    after: Duration = 60.0
    diagnostics: list[Identifier] = Field(default_factory=list)


class Remediation(StrictModel):
    """A step that fixes or escalates: done by a person, run automatically, or escalated."""

    id: Slug
    name: Text
    description: str
    type: Literal["manual", "automated", "escalate"]
    action: Action | None = None
    instructions: str | None = None
    requires_approval: bool = False
    verify: Verify | None = None
    continue_on_failure: bool = False
    """When the action fails, go on with the plan instead of stopping and escalating."""


class Escalation(StrictModel):
    """Who hears about the incident, and when it goes further."""

    primary: Text
    secondary: str | None = None
    escalate_after_minutes: Annotated[Minutes, Field(gt=0)] = 30.0


class RateLimit(StrictModel):
    """At most `actions` automated actions per `perMinutes` for one service, across all incidents."""

    actions: int = Field(gt=0)
    per_minutes: Annotated[Minutes, Field(gt=0)]


class Safety(StrictModel):
    """Safety rails for this runbook's automated actions (each unset one falls back to the settings)."""

    cooldown_minutes: Minutes | None = None
    """The same action on the same target does not run again within this many minutes (0 turns it off)."""
    rate_limit: RateLimit | None = None


class Runbook(StrictModel):
    """One runbook: triggers, diagnostics, a decision tree, remediations and an escalation policy."""

    schema_: str | None = Field(default=None, alias="$schema")
    id: Slug
    name: Text
    description: str
    severity: Literal["P1", "P2", "P3", "P4"]
    service: Text
    triggers: list[Trigger]
    diagnostics: list[Diagnostic]
    decision_tree: list[Decision]
    remediations: list[Remediation]
    escalation: Escalation
    safety: Safety | None = None
    """*Addition*: per-runbook safety rails (cooldown, rate limit); see docs/safety.md."""
    resolve_when_alert_resolves: bool = False
    """When the alert that opened the incident resolves, verify and (if healthy) resolve the incident."""
    shadow_of: Slug | None = None
    """*Addition*: the id of the runbook this one shadows. It runs beside every incident that runbook opens, with
    the same labels, and records its plan; nothing it plans acts, notifies or pages (#15, docs/runbook-format.md)."""

    def diagnostic(self, diagnostic_id: str) -> Diagnostic | None:
        return next((d for d in self.diagnostics if d.id == diagnostic_id), None)

    def remediation(self, remediation_id: str) -> Remediation | None:
        return next((r for r in self.remediations if r.id == remediation_id), None)
