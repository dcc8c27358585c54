"""Commands about runbooks: lint, explain, run, schema, eval."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console

from handrail.cli.common import (
    EXIT_PROBLEMS,
    EXIT_USAGE,
    config_option,
    fail,
    json_safe,
    parse_pairs,
    resolve,
    runbook_paths,
    settings_from,
)
from handrail.diagnostics.registry import create_probes
from handrail.engine import Assessment, Status, assess
from handrail.errors import ExpressionError
from handrail.explain import explain_markdown, explain_mermaid, explain_text
from handrail.expression import parse
from handrail.lint import lint_paths
from handrail.runbook.model import Runbook
from handrail.runbook.problem import Problem, Severity
from handrail.schema import runbook_json_schema
from handrail.settings import Settings
from handrail.terminal import LiveAssessmentView, render_assessment

__all__ = ["evaluate", "explain", "lint", "report_problems", "run", "schema"]


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
@config_option
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def lint(ctx: click.Context, paths: Sequence[Path], strict: bool, output: str) -> None:
    """Check runbook files (default: the catalog folder) and report every problem.

    With settings (./handrail.yaml or --config), automated actions are also checked against the
    safety allow-lists, and every runbook against the settings' policy.
    """
    settings = settings_from(ctx)
    paths = runbook_paths(settings, paths)
    results = lint_paths(
        paths, allow=settings.safety.allow.checker(), policy=settings.policy.checker(), catalog=settings.runbooks
    )
    report_problems(
        [problem for result in results for problem in result.problems], files=len(results), output=output, strict=strict
    )


def report_problems(problems: Sequence[Problem], *, files: int, output: str, strict: bool) -> None:
    """Print problems as `handrail lint` does (text or JSON, a summary line) and exit 1 on an error
    (or, with `strict`, a warning); `handrail check` reports the same way."""
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    if output == "json":
        summary = {"files": files, "errors": errors, "warnings": warnings}
        click.echo(json.dumps({"problems": [p.to_dict() for p in problems], "summary": summary}, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(_summary(files, errors, warnings), err=True)
    if errors or (strict and warnings):
        sys.exit(EXIT_PROBLEMS)


def _summary(file_count: int, errors: int, warnings: int) -> str:
    files = _plural(file_count, "file")
    if not errors and not warnings:
        return f"All clean: {files} checked."
    return f"Found {_plural(errors, 'error')} and {_plural(warnings, 'warning')} in {files}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.command()
@click.argument("runbook")
@click.option(
    "--format", "output", type=click.Choice(["text", "markdown", "mermaid"]), default="text", show_default=True
)
@config_option
@click.pass_context
def explain(ctx: click.Context, runbook: str, output: str) -> None:
    """Explain RUNBOOK (an id from the catalog, or a path) for a human."""
    loaded = resolve(runbook, settings_from(ctx))
    render = {"text": explain_text, "markdown": explain_markdown, "mermaid": explain_mermaid}[output]
    click.echo(render(loaded), nl=False)


@click.command()
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
    settings = settings_from(ctx)
    loaded = resolve(runbook, settings)
    label_map = parse_pairs(labels, "--label")
    console = Console(stderr=as_json)
    view = LiveAssessmentView(loaded, console) if console.is_terminal and not as_json else None
    assessment = asyncio.run(_assess(loaded, settings, label_map, view))
    if as_json:
        click.echo(json.dumps(json_safe(assessment.to_dict()), indent=2))
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


@click.command()
def schema() -> None:
    """Print the runbook format as JSON Schema (draft 2020-12)."""
    click.echo(json.dumps(runbook_json_schema(), indent=2))


@click.command(name="eval")
@click.argument("expression")
@click.option("--context", "context_json", default="{}", help="The names the expression can read, as a JSON object.")
def evaluate(expression: str, context_json: str) -> None:
    """Evaluate EXPRESSION against --context and print the result as JSON."""
    try:
        context = json.loads(context_json)
    except json.JSONDecodeError as exc:
        fail(f"--context is not valid JSON: {exc.msg} at column {exc.colno}", EXIT_USAGE)
    if not isinstance(context, dict):
        fail("--context must be a JSON object, like '{\"value\": 95}'", EXIT_USAGE)
    try:
        result = parse(expression).evaluate(context)
    except ExpressionError as exc:
        click.echo(f"error: column {exc.column}: {exc.message}", err=True)
        click.echo(f"  {expression}", err=True)
        click.echo(f"  {' ' * (exc.column - 1)}^", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(json.dumps(json_safe(result)))
