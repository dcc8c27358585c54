"""`handrail check`: the runbooks against the live systems they name (docs/check.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import click

from handrail.check import CheckResult, check_paths, create_checkers
from handrail.cli.common import config_option, runbook_paths, settings_from
from handrail.cli.runbooks import report_problems
from handrail.settings import Settings

__all__ = ["check"]


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
@config_option
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def check(ctx: click.Context, paths: Sequence[Path], strict: bool, output: str) -> None:
    """Check runbooks (default: the catalog folder) against the live systems they name, read-only.

    Metrics and labels on Prometheus, alert rules, SQL planned on its database, connections,
    programs, log files and hosts; each problem names the system it asked.
    """
    settings = settings_from(ctx)
    results = asyncio.run(_check(settings, runbook_paths(settings, paths)))
    problems = [problem for result in results for problem in result.problems]
    report_problems(problems, files=len(results), output=output, strict=strict)


async def _check(settings: Settings, paths: Sequence[Path]) -> list[CheckResult]:
    checkers = create_checkers(settings)
    try:
        return await check_paths(paths, checkers)
    finally:
        await checkers.aclose()
