"""The post-incident report: a Markdown page with everything the review needs, from the record."""

from __future__ import annotations

from collections.abc import Sequence

from handrail.handoff import durations, format_duration, handoff_dict
from handrail.store import ActionRun, IncidentRecord, TimelineRecord

__all__ = ["incident_report"]


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def incident_report(record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]) -> str:
    """Summary, times, evidence, decisions, actions and the full timeline."""
    view = handoff_dict(record, timeline, runs)
    times = durations(record)
    out = [
        f"# Post-incident report: {record.title} ({record.id})",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        f"| Runbook | `{record.runbook_id}` |",
        f"| Severity | {record.severity} |",
        f"| Service | {_cell(record.service)} |",
        f"| Outcome | {record.state.value}{' (escalated)' if record.escalated else ''} |",
        f"| Opened | {record.created_at:%Y-%m-%d %H:%M:%S} UTC by {_cell(record.triggered_by)}"
        f" ({record.trigger_type}) |",
        f"| Acknowledged by | {_cell(record.acknowledged_by or '—')} |",
        f"| Time to acknowledge | {format_duration(times['timeToAcknowledge'])} |",
        f"| Time to mitigate | {format_duration(times['timeToMitigate'])} |",
        f"| Time to resolve | {format_duration(times['timeToResolve'])} |",
        f"| Duplicate triggers joined | {record.joins} |",
    ]
    if record.labels:
        out.append(f"| Labels | {_cell(', '.join(f'{k}={v}' for k, v in sorted(record.labels.items())))} |")
    out += ["", "## Evidence", "", "| diagnostic | status | finding |", "| --- | --- | --- |"]
    out += [f"| {_cell(r['name'])} | {r['status']} | {_cell(r['message'])} |" for r in view["diagnosticResults"]]
    out += ["", "## Decisions", ""]
    out += [f"- {_cell(d['description'])} (`{_cell(d.get('condition') or 'otherwise')}`)" for d in view["decisions"]]
    if not view["decisions"]:
        out.append("- none fired")
    out += ["", f"Plan: {', '.join(f'`{r}`' for r in record.plan) or 'nothing'}", "", "## Actions", ""]
    if not runs:
        out.append("No action ran.")
    for run in runs:
        out += [
            f"### `{run.remediation_id}` — {run.status.value}",
            "",
            f"{_cell(run.message)}",
            "",
            "```",
            run.description,
            "```",
        ]
        if run.output:
            out += ["", "Output:", "", "```", run.output.rstrip()[:8000], "```"]
        out.append("")
    out += ["", "## Timeline", "", "| time (UTC) | event | by | what |", "| --- | --- | --- | --- |"]
    out += [f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.kind} | {_cell(e.actor or '')} | {_cell(e.message)} |" for e in timeline]
    return "\n".join(out) + "\n"
