"""`handrail replay`: a runbook file over the incidents its id already met; what it would now decide differently.

Exit codes: 0 done (with `--fail-on-change`: and nothing changed); 1 the runbook file has errors, the
history cannot be read, or (with `--fail-on-change`) an incident would now go differently; 2 usage errors.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import re
import sys
from datetime import datetime
from pathlib import Path

import click

from handrail.cli.common import (
    EXIT_PROBLEMS,
    config_option,
    fail,
    json_safe,
    limit_option,
    settings_from,
    since_option,
)
from handrail.composition import open_service
from handrail.engine.service import history_line
from handrail.errors import HistoryError
from handrail.handoff import printable
from handrail.lint import lint_file
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Severity
from handrail.scenarios.history import MAX_HISTORY_LINES, PastIncident, past_incident, read_history
from handrail.scenarios.replay import ReplayReport, replay
from handrail.settings import Settings

__all__ = ["DEFAULT_LIMIT", "replay_command"]

_LINE_BREAK = re.compile(r"\r\n?|[\n\v\f\x1c-\x1e\x85\u2028\u2029]")
DEFAULT_LIMIT = 10_000
"""The newest incidents a replay reads unless `--limit` says otherwise."""


@click.command(name="replay")
@click.argument("runbook_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--history",
    "history_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Replay the incidents of this export (`handrail incidents export`) instead of the configured database.",
)
@since_option("30d")
@limit_option(DEFAULT_LIMIT, MAX_HISTORY_LINES, "Replay at most the newest N incidents.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any incident would now go differently.")
@config_option
@click.pass_context
def replay_command(
    ctx: click.Context,
    runbook_file: Path,
    history_path: Path | None,
    since: datetime,
    limit: int,
    output: str,
    fail_on_change: bool,
) -> None:
    """Re-evaluate RUNBOOK_FILE over the incidents its runbook id already met, and report what would differ.

    Each incident's recorded raw results go through the file's derive, interpret, decision tree and plan:
    nothing is queried and nothing runs. History comes from the configured database (--config) or an
    export (--history FILE).
    """
    settings = None if history_path is not None else settings_from(ctx)
    linted = lint_file(runbook_file)
    errors = [p for p in linted.problems if p.severity is Severity.ERROR]
    if linted.runbook is None or errors:
        for problem in errors:
            click.echo(str(problem), err=True)
        fail(f"{runbook_file} has errors; fix them first (`handrail lint`)")
    runbook = linted.runbook
    if history_path is not None:
        try:
            found = heapq.nlargest(
                limit, read_history(history_path, runbook_id=runbook.id, since=since), key=lambda i: i.triggered_at
            )
        except HistoryError as exc:
            fail(str(exc))
        source = str(history_path)
    else:
        assert settings is not None
        found = asyncio.run(_recorded(settings, runbook, since, limit))
        source = "the configured database"
    report = asyncio.run(replay(runbook, found))
    if output == "json":
        body = {"runbookFile": str(runbook_file), "source": source, "since": since.isoformat(), **report.to_dict()}
        click.echo(json.dumps(json_safe(body), indent=2, default=str))
    else:
        click.echo(_text(report, runbook_file, source, since))
    if fail_on_change and report.changed:
        sys.exit(EXIT_PROBLEMS)


async def _recorded(settings: Settings, runbook: Runbook, since: datetime, limit: int) -> list[PastIncident]:
    """The newest `limit` incidents of the runbook since `since`, through the service (never the store)."""
    service = open_service(settings)
    try:
        return [
            past_incident(history_line(record), where=record.id)
            async for record in service.history(runbook_id=runbook.id, since=since, limit=limit)
        ]
    except HistoryError as exc:
        fail(str(exc))
    finally:
        service.close()


def _text(report: ReplayReport, runbook_file: Path, source: str, since: datetime) -> str:
    window = f"incidents since {since:%Y-%m-%d %H:%M} UTC"
    lines = [f"replay of {runbook_file} ({report.runbook_id}) over {source}, {window}"]
    for item in report.changed:
        incident = item.incident
        when = f"{incident.triggered_at:%Y-%m-%d %H:%M} UTC"
        lines.append(f"{incident.id} ({when}, {incident.state or 'recorded'}): {item.headline()}")
        lines += [f"    {change}" for change in item.changes]
        lines += [f"    note: {note}" for note in item.notes]
    for note, count in report.notes():
        lines.append(f"note: {note} ({count} {'incident' if count == 1 else 'incidents'})")
    lines.append(report.summary())
    # a history file's text reaches a terminal: no control character, and no line break that forges a line
    return "\n".join(printable(_LINE_BREAK.sub(" ", line)) for line in lines)
