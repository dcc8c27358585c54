"""The `handrail` command. Thin: each command calls the same functions the service will call.

Exit codes: 0 success; 1 the input has problems (lint errors, a failing expression); 2 usage
errors (unknown option, missing file); 3 an internal error (a bug: please report it).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from handrail import __version__
from handrail.catalog import resolve_runbook
from handrail.diagnostics.registry import create_probes
from handrail.engine import Assessment, Status, assess
from handrail.errors import CatalogError, ExpressionError, HandrailError, RunbookError, SettingsError
from handrail.explain import explain_markdown, explain_mermaid, explain_text
from handrail.expression import parse
from handrail.lint import LintResult, lint_paths
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Severity
from handrail.schema import runbook_json_schema
from handrail.settings import Settings, load_settings
from handrail.terminal import LiveAssessmentView, render_assessment

__all__ = ["main"]

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def _settings(ctx: click.Context) -> Settings:
    config: Path | None = ctx.ensure_object(dict).get("config")
    try:
        return load_settings(config)
    except SettingsError as exc:
        _fail(str(exc), EXIT_USAGE)


def _fail(message: str, code: int = EXIT_PROBLEMS) -> NoReturn:
    click.echo(f"handrail: {message}", err=True)
    sys.exit(code)


def _store_config(ctx: click.Context, _: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    expose_value=False,
    callback=_store_config,
    help="Settings file (default: ./handrail.yaml when it exists).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (default: ./handrail.yaml when it exists).",
)
@click.version_option(__version__, prog_name="handrail")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Handrail: executable runbooks for incident response."""
    ctx.ensure_object(dict).setdefault("config", config)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
@config_option
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def lint(ctx: click.Context, paths: Sequence[Path], strict: bool, output: str) -> None:
    """Check runbook files (default: the catalog folder) and report every problem."""
    if not paths:
        folder = _settings(ctx).runbooks
        if not folder.is_dir():
            _fail(f"the runbook folder {folder} does not exist (set `runbooks:` in handrail.yaml)", EXIT_USAGE)
        paths = [folder]
    results = lint_paths(paths)
    problems = [problem for result in results for problem in result.problems]
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    if output == "json":
        summary = {"files": len(results), "errors": errors, "warnings": warnings}
        click.echo(json.dumps({"problems": [p.to_dict() for p in problems], "summary": summary}, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(_lint_summary(results, errors, warnings), err=True)
    if errors or (strict and warnings):
        sys.exit(EXIT_PROBLEMS)


def _lint_summary(results: Sequence[LintResult], errors: int, warnings: int) -> str:
    files = _plural(len(results), "file")
    if not errors and not warnings:
        return f"All clean: {files} checked."
    return f"Found {_plural(errors, 'error')} and {_plural(warnings, 'warning')} in {files}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@cli.command()
@click.argument("runbook")
@click.option(
    "--format", "output", type=click.Choice(["text", "markdown", "mermaid"]), default="text", show_default=True
)
@config_option
@click.pass_context
def explain(ctx: click.Context, runbook: str, output: str) -> None:
    """Explain RUNBOOK (an id from the catalog, or a path) for a human."""
    loaded = _resolve(runbook, _settings(ctx))
    render = {"text": explain_text, "markdown": explain_markdown, "mermaid": explain_mermaid}[output]
    click.echo(render(loaded), nl=False)


@cli.command()
@click.argument("runbook")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="An alert label (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON.")
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default=None,
    help="Exit 1 when the overall severity is at least this.",
)
@config_option
@click.pass_context
def run(ctx: click.Context, runbook: str, labels: Sequence[str], as_json: bool, fail_on: str | None) -> None:
    """Run RUNBOOK's diagnostics now and show what they mean; never runs a remediation."""
    settings = _settings(ctx)
    loaded = _resolve(runbook, settings)
    label_map = _parse_labels(labels)
    console = Console(stderr=as_json)
    view = LiveAssessmentView(loaded, console) if console.is_terminal and not as_json else None
    assessment = asyncio.run(_assess(loaded, settings, label_map, view))
    if as_json:
        click.echo(json.dumps(_json_safe(assessment.to_dict()), indent=2))
    else:
        console.print(render_assessment(loaded, assessment))
    order = [Status.HEALTHY, Status.WARNING, Status.CRITICAL]
    if fail_on is not None and order.index(assessment.overall_severity) >= order.index(Status(fail_on)):
        sys.exit(EXIT_PROBLEMS)


async def _assess(
    runbook: Runbook, settings: Settings, labels: dict[str, str], view: LiveAssessmentView | None
) -> Assessment:
    probes = create_probes(prometheus=settings.prometheus, loki=settings.loki, databases=settings.databases)
    try:
        if view is None:
            return await assess(runbook, probes=probes, labels=labels, deadline=settings.assessment_deadline)
        with view:
            return await assess(
                runbook, probes=probes, labels=labels, deadline=settings.assessment_deadline, observer=view
            )
    finally:
        await asyncio.gather(*(probe.aclose() for probe in probes.values()), return_exceptions=True)


def _parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            _fail(f"--label {pair!r}: write KEY=VALUE", EXIT_USAGE)
        labels[key.strip()] = value
    return labels


def _resolve(reference: str, settings: Settings) -> Runbook:
    try:
        return resolve_runbook(reference, settings.runbooks)
    except RunbookError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        _fail(f"{reference} has errors; fix them first (`handrail lint`)")
    except CatalogError as exc:
        _fail(str(exc))


@cli.command()
def schema() -> None:
    """Print the runbook format as JSON Schema (draft 2020-12)."""
    click.echo(json.dumps(runbook_json_schema(), indent=2))


@cli.command(name="eval")
@click.argument("expression")
@click.option("--context", "context_json", default="{}", help="The names the expression can read, as a JSON object.")
def evaluate(expression: str, context_json: str) -> None:
    """Evaluate EXPRESSION against --context and print the result as JSON."""
    try:
        context = json.loads(context_json)
    except json.JSONDecodeError as exc:
        _fail(f"--context is not valid JSON: {exc.msg} at column {exc.colno}", EXIT_USAGE)
    if not isinstance(context, dict):
        _fail("--context must be a JSON object, like '{\"value\": 95}'", EXIT_USAGE)
    try:
        result = parse(expression).evaluate(context)
    except ExpressionError as exc:
        click.echo(f"error: column {exc.column}: {exc.message}", err=True)
        click.echo(f"  {expression}", err=True)
        click.echo(f"  {' ' * (exc.column - 1)}^", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(json.dumps(_json_safe(result)))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; whatever happens, the user gets a message and an exit code, never a traceback."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="handrail", standalone_mode=True)
    except HandrailError as exc:
        _fail(str(exc))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except Exception as exc:
        _fail(f"internal error: {type(exc).__name__}: {exc} (please report this)", EXIT_INTERNAL)
