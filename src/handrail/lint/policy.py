"""Policy: the rules a team sets for every runbook (`policy:` in handrail.yaml), HR701–HR704.

`handrail lint` checks them when it runs with settings, and the catalog when it loads, so a runbook
that breaks policy is refused like one with errors. The settings hand the rules down as a `Policy`
of plain values (`PolicySettings.checker()`): nothing here reads the settings.

- HR701 `requireApproval`: an automated remediation whose action type the policy names, or whose
  `run_script` SQL may write (`sql_check.writing_word`), has `requiresApproval: true`.
- HR702 `requireFallback`: the runbook has an `otherwise` decision, and what it plans reaches a person:
  it escalates (an escalate step, or nothing planned), or a step is manual or waits for approval.
- HR703 `maxEscalateAfterMinutes`: `escalation.escalateAfterMinutes` (30 when not written) is at most the
  policy's minutes for the runbook's severity.
- HR704 `allowedTargets`: every target the runbook names (escalation primary and secondary, a `notify`
  action's channel) matches one of the policy's targets (`*` matches any characters); a channel with a
  placeholder cannot be checked, so it is refused too (an alert label would choose where it goes).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from handrail.engine.plan import StepKind, plan_remediations
from handrail.runbook.load import did_you_mean, format_path
from handrail.runbook.model import Decision, Remediation, Runbook
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath
from handrail.runbook.template import has_placeholders
from handrail.sql_check import Word, writing_word

__all__ = ["Policy", "check_policy"]

_PERSON = frozenset({StepKind.MANUAL, StepKind.APPROVAL})
"""Steps that reach a person without escalating: someone does it, or someone approves it."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules, as plain data; every rule is off by default."""

    require_approval: Collection[str] = ()
    """Action types that must wait for approval."""
    writing_sql_requires_approval: bool = False
    """`run_script` SQL that may write must wait for approval."""
    require_fallback: bool = False
    max_escalate_after_minutes: Mapping[str, float] = field(default_factory=dict)
    """The longest `escalateAfterMinutes` per severity (`P1` ...); a severity not named has no bound."""
    allowed_targets: Collection[str] | None = None
    """The targets runbooks may name (`*` matches any characters); None allows any."""

    def allows_target(self, target: str) -> bool:
        return self.allowed_targets is None or any(_pattern(p).fullmatch(target) for p in self.allowed_targets)


def check_policy(runbook: Runbook, document: Document, policy: Policy) -> list[Problem]:
    """Every way `runbook` breaks `policy`, each at the value in `document` that breaks it."""
    problems = [*_approvals(runbook, document, policy), *_escalate_after(runbook, document, policy)]
    if policy.require_fallback:
        problems += _fallback(runbook, document)
    if policy.allowed_targets is not None:
        problems += _targets(runbook, document, policy)
    return problems


def _problem(document: Document, at: DocumentPath, code: str, message: str, *, key: bool = False) -> Problem:
    return Problem(document.path, document.position(at, key=key), code, message)


def _approvals(runbook: Runbook, document: Document, policy: Policy) -> Iterator[Problem]:
    for index, remediation in enumerate(runbook.remediations):
        action = remediation.action
        if remediation.type != "automated" or action is None or remediation.requires_approval:
            continue
        at: DocumentPath = ("remediations", index)
        written = (*at, "requiresApproval")
        if action.type in policy.require_approval:
            place = written if written in document.values else (*at, "action", "type")
            yield _problem(
                document,
                place,
                "HR701",
                f"remediation '{remediation.id}' runs {action.type} without `requiresApproval: true`;"
                f" the policy's requireApproval names {action.type}",
            )
        sql = action.config.get("sql") if action.type == "run_script" else None
        if policy.writing_sql_requires_approval and isinstance(sql, str):
            word = writing_word(sql)
            if word is not None:
                yield _sql_problem(document, remediation, at, sql, word)


def _sql_problem(document: Document, remediation: Remediation, at: DocumentPath, sql: str, word: Word) -> Problem:
    """HR701 at `requiresApproval: false` when written, else at the word of the SQL that may write."""
    shown = sql[word.offset : word.offset + len(word.text)]
    message = (
        f"remediation '{remediation.id}' runs SQL that may write (at `{shown}`) without `requiresApproval: true`;"
        " the policy's requireApproval.writingSql asks for approval"
    )
    written = (*at, "requiresApproval")
    if written in document.values:
        return _problem(document, written, "HR701", message)
    sql_at = (*at, "action", "config", "sql")
    return Problem(document.path, document.text_position(sql_at, word.offset + 1), "HR701", message)


def _fallback(runbook: Runbook, document: Document) -> Iterator[Problem]:
    fallback = next(((i, d) for i, d in enumerate(runbook.decision_tree) if d.otherwise), None)
    if fallback is None:
        yield _problem(
            document,
            ("decisionTree",),
            "HR702",
            "no `otherwise` decision: the policy's requireFallback asks for one that escalates or reaches a person",
            key=True,
        )
        return
    index, decision = fallback
    if not _reaches_a_person(runbook, decision):
        at: DocumentPath = ("decisionTree", index, "then")
        yield _problem(
            document,
            at,
            "HR702",
            f"{format_path(at)}: the `otherwise` decision neither escalates nor reaches a person (a manual step or"
            " one that waits for approval); the policy's requireFallback asks for one that does",
        )


def _reaches_a_person(runbook: Runbook, decision: Decision) -> bool:
    """The engine's reading (`engine/plan.py`): the plan escalates, or a step is manual or waits for approval."""
    plan = plan_remediations(runbook, decision.then)
    return plan.escalates or any(step.kind in _PERSON for step in plan.steps)


def _escalate_after(runbook: Runbook, document: Document, policy: Policy) -> Iterator[Problem]:
    limit = policy.max_escalate_after_minutes.get(runbook.severity)
    minutes = runbook.escalation.escalate_after_minutes
    if limit is None or minutes <= limit:
        return
    at: DocumentPath = ("escalation", "escalateAfterMinutes")
    written = at in document.values
    yield _problem(
        document,
        at if written else ("escalation",),
        "HR703",
        f"escalateAfterMinutes is {minutes:g}{'' if written else ' (the default)'}; the policy allows at most"
        f" {limit:g} for a {runbook.severity} runbook",
        key=not written,
    )


def _targets(runbook: Runbook, document: Document, policy: Policy) -> Iterator[Problem]:
    # (where, target, rendered): escalation targets are used as written; a notify channel is a template
    named: list[tuple[DocumentPath, str, bool]] = [(("escalation", "primary"), runbook.escalation.primary, False)]
    if runbook.escalation.secondary:
        named.append((("escalation", "secondary"), runbook.escalation.secondary, False))
    for index, remediation in enumerate(runbook.remediations):
        action = remediation.action
        channel = action.config.get("channel") if action is not None and action.type == "notify" else None
        if remediation.type == "automated" and isinstance(channel, str):
            named.append((("remediations", index, "action", "config", "channel"), channel, True))
    allowed = list(policy.allowed_targets or ())
    for at, target, rendered in named:
        if rendered and has_placeholders(target):
            yield _problem(
                document,
                at,
                "HR704",
                f"{format_path(at)}: '{target}' has a placeholder, so an alert label would choose the target; the"
                " policy's allowedTargets names the targets runbooks may use",
            )
        elif not policy.allows_target(target):
            hint = did_you_mean(target, [t for t in allowed if "*" not in t])
            listed = ", ".join(allowed) or "nothing"
            yield _problem(
                document,
                at,
                "HR704",
                f"{format_path(at)}: '{target}' is not among the policy's allowedTargets ({listed}){hint}",
            )


def _pattern(target: str) -> re.Pattern[str]:
    """An allowed target as a pattern: `*` matches any characters, everything else itself."""
    return re.compile(".*".join(re.escape(part) for part in target.split("*")))
