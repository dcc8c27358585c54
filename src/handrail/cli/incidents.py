"""`handrail trigger`, `handrail worker`, `handrail incidents …` and `handrail report`: incidents from the CLI.

`handrail incidents export` writes the history `handrail replay --history` reads, and `handrail
incidents scenario` an incident as a `handrail test` scenario (docs/replay.md).

They work on the configured database with no server running: the service writes the incident and
enqueues its workflow; a `handrail worker` (or, later, `handrail serve`) carries it.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import signal
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

import click

from handrail.cli.common import (
    EXIT_USAGE,
    await_service,
    config_option,
    fail,
    json_safe,
    limit_option,
    output_option,
    parse_pairs,
    resolve,
    settings_from,
    since_option,
)
from handrail.composition import create_worker, open_service
from handrail.console.charts import REPORT_FILE, report_files
from handrail.engine.service import IncidentService, history_line
from handrail.errors import HistoryError
from handrail.handoff import handoff_dict, handoff_text
from handrail.report import incident_report
from handrail.scenarios.capture import scenario_text
from handrail.scenarios.history import MAX_HISTORY_LINES, past_incident
from handrail.settings import Settings

__all__ = ["incidents", "report", "trigger", "worker"]


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


def _service(settings: Settings) -> IncidentService:
    return open_service(settings)


@click.command()
@click.argument("runbook")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="An alert label (repeatable).")
@click.option("--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="An annotation (repeatable).")
@click.option("--dry-run", is_flag=True, help="Do everything except side effects; the timeline says what would run.")
@click.option("--dedup-key", default=None, help="Join the open incident with this key (default: runbook + labels).")
@click.option("--as", "actor", default=None, help="Who triggers (default: your user name).")
@config_option
@click.pass_context
def trigger(
    ctx: click.Context,
    runbook: str,
    labels: Sequence[str],
    annotations: Sequence[str],
    dry_run: bool,
    dedup_key: str | None,
    actor: str | None,
) -> None:
    """Open an incident for RUNBOOK (or join the open one with the same labels); prints its id."""
    settings = settings_from(ctx)
    loaded = resolve(runbook, settings)
    service = _service(settings)
    record, opened = await_service(
        service.trigger(
            loaded,
            trigger_type="manual",
            triggered_by=_actor(actor),
            labels=parse_pairs(labels, "--label"),
            annotations=parse_pairs(annotations, "--annotation"),
            dedup_key=dedup_key,
            dry_run=dry_run,
        )
    )
    click.echo(record.id)
    if not opened:
        click.echo(f"joined the open incident {record.id} (same dedup key)", err=True)


@click.command()
@config_option
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the incident engine until interrupted (SIGINT or SIGTERM)."""
    settings = settings_from(ctx)
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with create_worker(settings):
        click.echo("handrail worker: ready", err=True)
        await stop.wait()
    click.echo("handrail worker: stopped", err=True)


@click.group()
def incidents() -> None:
    """List, inspect and act on incidents."""


@incidents.command(name="list")
@click.option("--status", "states", multiple=True, help="Only these states (repeatable).")
@click.option("--open", "open_only", is_flag=True, help="Only open incidents.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def list_incidents(ctx: click.Context, states: Sequence[str], open_only: bool, limit: int, as_json: bool) -> None:
    """Incidents, newest first."""
    service = _service(settings_from(ctx))
    records = await_service(service.find(states=states, open_only=open_only, limit=limit))
    if as_json:
        click.echo(json.dumps([handoff_dict(r, [], []) for r in records], indent=2, default=str))
        return
    for record in records:
        ack = f" ack:{record.acknowledged_by}" if record.acknowledged_by else ""
        click.echo(
            f"{record.id}  {record.state.value:<17} {record.severity}  {record.runbook_id}  "
            f"{record.created_at:%Y-%m-%d %H:%M:%S}Z{ack}"
        )


@incidents.command()
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def show(ctx: click.Context, incident_id: str, as_json: bool) -> None:
    """The handoff view: what was found, decided and done, and what waits for whom."""
    record, timeline, runs = await_service(_service(settings_from(ctx)).story(incident_id))
    if as_json:
        click.echo(json.dumps(json_safe(handoff_dict(record, timeline, runs)), indent=2, default=str))
    else:
        click.echo(handoff_text(record, timeline, runs))


def _decision_command(kind: str, summary: str) -> click.Command:
    @click.command(name=kind, help=summary)
    @click.argument("incident_id")
    @click.argument("remediation")
    @click.option("--as", "actor", default=None, help="Who decides (default: your user name).")
    @click.option("--reason", default="", help="Why (kept on the timeline).")
    @config_option
    @click.pass_context
    def command(ctx: click.Context, incident_id: str, remediation: str, actor: str | None, reason: str) -> None:
        service = _service(settings_from(ctx))
        await_service(service.decide(incident_id, remediation, kind, actor=_actor(actor), reason=reason))
        click.echo(f"{incident_id}: {remediation} {kind} recorded")

    return command


for _kind, _summary in (
    ("approve", "Approve an automated REMEDIATION that waits for approval."),
    ("reject", "Reject an automated REMEDIATION that waits for approval."),
    ("done", "Mark a manual REMEDIATION done."),
    ("skip", "Skip a manual REMEDIATION."),
):
    incidents.add_command(_decision_command(_kind, _summary))


@incidents.command()
@click.argument("incident_id")
@click.option("--as", "actor", default=None)
@config_option
@click.pass_context
def ack(ctx: click.Context, incident_id: str, actor: str | None) -> None:
    """Acknowledge: someone is on it (stops the escalation timer from paging further)."""
    record = await_service(_service(settings_from(ctx)).acknowledge(incident_id, actor=_actor(actor)))
    click.echo(f"{record.id}: acknowledged by {record.acknowledged_by}")


@incidents.command()
@click.argument("incident_id")
@click.argument("text")
@click.option("--as", "actor", default=None)
@config_option
@click.pass_context
def note(ctx: click.Context, incident_id: str, text: str, actor: str | None) -> None:
    """Add a note to the timeline."""
    await_service(_service(settings_from(ctx)).note(incident_id, text, actor=_actor(actor)))
    click.echo(f"{incident_id}: note added")


def _closing_command(name: str, summary: str) -> click.Command:
    @click.command(name=name, help=summary)
    @click.argument("incident_id")
    @click.option("--as", "actor", default=None)
    @click.option("--reason", default="")
    @config_option
    @click.pass_context
    def command(ctx: click.Context, incident_id: str, actor: str | None, reason: str) -> None:
        service = _service(settings_from(ctx))
        method = service.resolve if name == "resolve" else service.cancel
        record = await_service(method(incident_id, actor=_actor(actor), reason=reason))
        click.echo(f"{record.id}: {record.state.value}")

    return command


incidents.add_command(_closing_command("resolve", "Resolve the incident (stops anything still planned)."))
incidents.add_command(_closing_command("cancel", "Cancel the incident (stops anything still planned)."))


@incidents.command()
@since_option("90d")
@click.option("--runbook", "runbook_id", default=None, metavar="ID", help="Only this runbook's incidents.")
@limit_option(MAX_HISTORY_LINES, MAX_HISTORY_LINES, "Write at most the newest N incidents.")
@output_option()
@config_option
@click.pass_context
def export(ctx: click.Context, since: datetime, runbook_id: str | None, limit: int, output: Path | None) -> None:
    """Write incident history as JSON lines (secrets redacted), newest first, for `handrail replay --history`."""
    service = _service(settings_from(ctx))
    try:
        handle = output.open("w", encoding="utf-8") if output is not None else None
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}", EXIT_USAGE)
    written = await_service(_export(service, handle, runbook_id=runbook_id, since=since, limit=limit))
    if handle is not None:
        handle.close()
        click.echo(f"wrote {written} {'incident' if written == 1 else 'incidents'} to {output}", err=True)


async def _export(
    service: IncidentService, handle: TextIO | None, *, runbook_id: str | None, since: datetime, limit: int
) -> int:
    written = 0
    async for record in service.history(runbook_id=runbook_id, since=since, limit=limit):
        line = json.dumps(json_safe(history_line(record)), default=str, separators=(",", ":"))
        if handle is None:
            click.echo(line)
        else:
            handle.write(line + "\n")
        written += 1
    return written


@incidents.command()
@click.argument("incident_id")
@config_option
@click.pass_context
def scenario(ctx: click.Context, incident_id: str) -> None:
    """Print the incident as a `handrail test` scenario: its recorded results, and what happened as expectations."""
    record = await_service(_service(settings_from(ctx)).get(incident_id))
    try:
        click.echo(scenario_text(past_incident(history_line(record), where=incident_id)), nl=False)
    except HistoryError as exc:
        fail(str(exc))


@click.command()
@click.argument("incident_id")
@output_option()
@click.option(
    "--out",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write report.md and the SVG charts it links (charts/) into this folder.",
)
@config_option
@click.pass_context
def report(ctx: click.Context, incident_id: str, output: Path | None, folder: Path | None) -> None:
    """Write the post-incident report (Markdown), with --out its charts too."""
    if output is not None and folder is not None:
        raise click.UsageError("give --output (one Markdown file) or --out (a folder with the charts), not both")
    record, timeline, runs = await_service(_service(settings_from(ctx)).story(incident_id))
    if folder is not None:
        files = report_files(record, timeline, runs)
        try:
            for name, content in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(content, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write the report into {folder}: {exc.strerror or exc}") from exc
        click.echo(f"wrote {folder / REPORT_FILE} and {len(files) - 1} chart(s)", err=True)
        return
    text = incident_report(record, timeline, runs)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)
