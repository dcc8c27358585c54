"""`handrail explain`: a runbook for a human, as terminal text, a Markdown page or a Mermaid flowchart.

Generated from the runbook itself, so the published page can never drift from what runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from handrail.expression import describe, parse
from handrail.runbook.model import Decision, Diagnostic, Remediation, Runbook, Trigger

__all__ = ["explain_markdown", "explain_mermaid", "explain_text"]

_STATUS_ORDER = ("critical", "warning", "healthy")
_CONFIG_SUMMARY_KEYS = ("query", "command", "targets", "paths", "pattern", "regex", "database")


@dataclass(frozen=True, slots=True)
class _Words:
    """Renders expressions with diagnostics named the way people call them."""

    runbook: Runbook

    def condition(self, source: str) -> str:
        return describe(parse(source), name=self._name)

    def _name(self, path: tuple[str | int, ...]) -> str | None:
        if len(path) >= 2 and path[0] == "diagnostics":
            diagnostic = self.runbook.diagnostic(str(path[1]))
            if diagnostic is not None:
                rest = ".".join(str(p) for p in path[2:])
                return f"{diagnostic.name} {rest}".strip()
        return None


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


def _trigger(trigger: Trigger) -> str:
    if trigger.type == "alert":
        labels = ", ".join(f"{k}{_matcher(v)}" for k, v in trigger.labels.items())
        return f"alert {trigger.alert_name}" + (f" where {labels}" if labels else "")
    if trigger.type == "metric_threshold":
        return f"metric `{trigger.metric_query}` crosses {trigger.threshold:g}"
    return "manual: a responder runs it (CLI, API or console)"


def _matcher(value: str) -> str:
    return value if value[:2] in ("=~", "!~") or value.startswith("!=") else f"={value}"


def _thresholds(diagnostic: Diagnostic, words: _Words) -> Iterator[tuple[str, str]]:
    for status in _STATUS_ORDER:
        source = getattr(diagnostic.interpret, status)
        if source is not None:
            yield status, words.condition(source)


def _config_summary(diagnostic: Diagnostic) -> Iterator[tuple[str, str]]:
    config = diagnostic.config
    for key in _CONFIG_SUMMARY_KEYS:
        if key in config:
            value = config[key]
            yield (
                key,
                " ".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else str(value),
            )
    for endpoint in config.get("urls", []) if isinstance(config.get("urls"), list) else []:
        if isinstance(endpoint, dict):
            yield "url", f"{endpoint.get('name', '?')}: {endpoint.get('url', '?')}"


def _remediation_tags(remediation: Remediation) -> str:
    tags: list[str] = [remediation.type]
    if remediation.action is not None:
        tags.append(remediation.action.type)
    if remediation.requires_approval:
        tags.append("needs approval")
    return ", ".join(tags)


def _verify(runbook: Runbook, remediation: Remediation) -> str:
    verify = remediation.verify
    if verify is None:
        return ""
    names = [d.name for d in runbook.diagnostics if d.id in verify.diagnostics]
    which = ", ".join(names) if names else "the diagnostics behind the decision"
    return f"Verified {_seconds(verify.after)} later by running again: {which}."


def _decision_title(decision: Decision, words: _Words) -> str:
    if decision.otherwise:
        return "otherwise (no other decision fired)"
    return f"if {words.condition(decision.condition or 'false')}"


def _escalation(runbook: Runbook) -> str:
    policy = runbook.escalation
    text = f"Notify {policy.primary} when the incident opens."
    if policy.secondary:
        text += (
            f" If nobody acknowledges or resolves it within {policy.escalate_after_minutes:g} minutes,"
            f" notify {policy.secondary}."
        )
    else:
        text += f" Escalate after {policy.escalate_after_minutes:g} minutes without acknowledgement."
    return text


def explain_text(runbook: Runbook) -> str:
    """Plain text for the terminal: what triggers it, what it checks, what it decides, who hears."""
    words = _Words(runbook)
    lines = [f"{runbook.name}  ({runbook.id})", f"{runbook.severity} · service {runbook.service}"]
    if runbook.description:
        lines.append(runbook.description)
    lines += ["", "Triggers"] + [f"  • {_trigger(t)}" for t in runbook.triggers]
    lines += ["", "Diagnostics (collected in parallel)"]
    for number, diagnostic in enumerate(runbook.diagnostics, 1):
        timeout = _seconds(diagnostic.timeout)
        lines.append(f"  {number}. {diagnostic.name} [{diagnostic.id}] — {diagnostic.type}, timeout {timeout}")
        if diagnostic.description:
            lines.append(f"     {diagnostic.description}")
        lines += [f"     {key}: {value}" for key, value in _config_summary(diagnostic)]
        lines += [f"     derive {name} = {words.condition(source)}" for name, source in diagnostic.derive.items()]
        lines += [f"     {status:<8} when {text}" for status, text in _thresholds(diagnostic, words)]
    lines += ["", "Decision tree (every branch that holds fires, in this order)"]
    for number, decision in enumerate(runbook.decision_tree, 1):
        last = number == len(runbook.decision_tree)
        branch, stem = ("└─", "   ") if last else ("├─", "│  ")
        lines.append(f"  {branch} {_decision_title(decision, words)}")
        if decision.description:
            lines.append(f"  {stem}   {decision.description}")
        for remediation_id in decision.then:
            remediation = runbook.remediation(remediation_id)
            if remediation is None:
                lines.append(f"  {stem}   → {remediation_id} (not defined)")
                continue
            lines.append(f"  {stem}   → {remediation.name} [{remediation.id}] ({_remediation_tags(remediation)})")
            lines += [f"  {stem}       {line}" for line in (remediation.instructions or "").strip().splitlines()]
    lines += ["", "Remediations"]
    for remediation in runbook.remediations:
        lines.append(f"  • {remediation.name} [{remediation.id}] ({_remediation_tags(remediation)})")
        if remediation.description:
            lines.append(f"    {remediation.description}")
        if remediation.verify is not None:
            lines.append(f"    {_verify(runbook, remediation)}")
    lines += ["", "Escalation", f"  {_escalation(runbook)}"]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def explain_markdown(runbook: Runbook) -> str:
    """A page a team can publish in place of the old wiki runbook."""
    words = _Words(runbook)
    out = [
        f"# {runbook.name}",
        "",
        f"`{runbook.id}` · **{runbook.severity}** · service `{runbook.service}`",
        "",
        runbook.description,
        "",
        "> Generated by `handrail explain --format markdown` from the runbook file; edit the file, not this page.",
        "",
        "## When it runs",
        "",
        *[f"- {_trigger(t)}" for t in runbook.triggers],
        "",
        "## What it checks",
        "",
        "Every diagnostic runs in parallel. Its status is the first of critical, warning, healthy that holds;"
        " if none holds it is *unknown*, and a probe that fails is *error*.",
        "",
    ]
    for diagnostic in runbook.diagnostics:
        out += [f"### {diagnostic.name} (`{diagnostic.id}`)", "", diagnostic.description, ""]
        out += [f"- type `{diagnostic.type}`, timeout {_seconds(diagnostic.timeout)}"]
        out += [f"- {key}: `{_md(value)}`" for key, value in _config_summary(diagnostic)]
        out += [f"- derive `{name}` = {words.condition(source)}" for name, source in diagnostic.derive.items()]
        out += ["", "| status | when |", "| --- | --- |"]
        out += [f"| {status} | {_md(text)} |" for status, text in _thresholds(diagnostic, words)]
        out.append("")
    out += ["## What it decides", "", "Every branch whose condition holds fires, in this order.", ""]
    for number, decision in enumerate(runbook.decision_tree, 1):
        out += [f"{number}. **{_decision_title(decision, words)}** — {decision.description}"]
        for remediation_id in decision.then:
            remediation = runbook.remediation(remediation_id)
            label = f"{remediation.name} ({_remediation_tags(remediation)})" if remediation else "(not defined)"
            out.append(f"   - `{remediation_id}`: {label}")
    out += ["", "## Remediations", ""]
    for remediation in runbook.remediations:
        out += [
            f"### {remediation.name} (`{remediation.id}`)",
            "",
            f"*{_remediation_tags(remediation)}* — {remediation.description}",
            "",
        ]
        if remediation.instructions:
            out += [remediation.instructions.strip(), ""]
        if remediation.action is not None:
            out += [f"Action `{remediation.action.type}`:", "", "```json", _json(remediation.action.config), "```", ""]
        if remediation.verify is not None:
            out += [_verify(runbook, remediation), ""]
    out += ["## Escalation", "", _escalation(runbook), ""]
    return "\n".join(out)


def _json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", " ") + '"'


def explain_mermaid(runbook: Runbook) -> str:
    """A Mermaid flowchart of the decision tree: diagnostics, each branch, and what it plans."""
    words = _Words(runbook)
    names = ", ".join(d.name for d in runbook.diagnostics)
    out = [
        "flowchart TD",
        f"    start([{_mermaid_label(runbook.name)}])",
        f"    diag[{_mermaid_label('Collect in parallel: ' + names)}]",
        "    start --> diag",
    ]
    for index, remediation in enumerate(runbook.remediations):
        label = _mermaid_label(f"{remediation.name} ({_remediation_tags(remediation)})")
        shape = {"manual": f"[/{label}/]", "automated": f"[{label}]", "escalate": f"{{{{{label}}}}}"}[remediation.type]
        out.append(f"    r{index}{shape}")
    remediation_index = {r.id: i for i, r in enumerate(runbook.remediations)}
    for index, decision in enumerate(runbook.decision_tree):
        out.append(f"    d{index}{{{_mermaid_label(_decision_title(decision, words))}}}")
        out.append(f"    diag --> d{index}")
        for remediation_id in decision.then:
            if remediation_id in remediation_index:
                out.append(f"    d{index} -->|yes| r{remediation_index[remediation_id]}")
            else:
                out.append(
                    f"    d{index} -->|yes| missing_{index}[{_mermaid_label(remediation_id + ' (not defined)')}]"
                )
    out.append(f"    esc[[{_mermaid_label(_escalation(runbook))}]]")
    out.append("    diag -.-> esc")
    return "\n".join(out) + "\n"
