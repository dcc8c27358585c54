"""Safety rails for automated actions: allow-lists, cooldowns and a per-service circuit breaker.

Automation that restarts the wrong thing, or the right thing fifty times during an alert storm,
is worse than none. Before an action starts, the engine checks what it would touch against the
allow-lists, then claims it in one transaction that also checks the cooldown (same target, any
incident) and the rate limit (same service, any incident). A blocked run is recorded, never run,
and the incident escalates to people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handrail.actions.base import ActionScope
from handrail.runbook.model import Runbook

__all__ = ["AllowList", "SafetyPolicy"]


@dataclass(frozen=True, slots=True)
class AllowList:
    """What automation may touch; None allows anything of that kind."""

    namespaces: Sequence[str] | None = None
    databases: Sequence[str] | None = None
    commands: Sequence[str] | None = None
    caches: Sequence[str] | None = None

    def refusal(self, scope: ActionScope) -> str | None:
        """Why `scope` is not allowed, or None."""
        for kind, value, allowed in (
            ("namespace", scope.namespace, self.namespaces),
            ("database", scope.database, self.databases),
            ("command", scope.command, self.commands),
            ("cache", scope.cache, self.caches),
        ):
            if value is not None and allowed is not None and value not in allowed:
                listed = ", ".join(allowed) or "nothing"
                return f"{kind} {value!r} is not in the {kind} allow-list ({listed})"
        return None


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    """The rails from the settings; a runbook may tighten or loosen cooldown and rate limit."""

    cooldown_minutes: float = 10.0
    rate_actions: int = 3
    rate_minutes: float = 10.0
    allow: AllowList = AllowList()

    def for_runbook(self, runbook: Runbook) -> SafetyPolicy:
        safety = runbook.safety
        if safety is None:
            return self
        return SafetyPolicy(
            cooldown_minutes=self.cooldown_minutes if safety.cooldown_minutes is None else safety.cooldown_minutes,
            rate_actions=safety.rate_limit.actions if safety.rate_limit else self.rate_actions,
            rate_minutes=safety.rate_limit.per_minutes if safety.rate_limit else self.rate_minutes,
            allow=self.allow,
        )
