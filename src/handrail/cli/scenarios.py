"""`handrail test`: run the scenario files beside runbooks; pass/fail per scenario and decision-tree coverage.

Exit codes: 0 every scenario passed and nothing has an error; 1 a scenario failed, a runbook or a
scenario file has errors, or coverage is below `--min-coverage`; 2 usage errors.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from handrail.cli.common import EXIT_PROBLEMS, EXIT_USAGE, config_option, fail, runbook_paths, settings_from
from handrail.scenarios import RunbookReport, SuiteReport, Tally, junit_xml, run_suite

__all__ = ["runbook_tests"]


@click.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write the results as JUnit XML to FILE (for CI).",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="N",
    help="Fail when decision-tree coverage (decisions and statuses together) is below N percent.",
)
@config_option
@click.pass_context
def runbook_tests(
    ctx: click.Context, paths: Sequence[Path], junit_path: Path | None, min_coverage: float | None
) -> None:
    """Lint runbooks and run their scenario files (default: the catalog folder); report pass/fail and coverage.

    PATHS are folders, runbook files or scenario files (`<runbook>.test.yaml`, beside the runbook).
    """
    settings = settings_from(ctx)
    paths = runbook_paths(settings, paths)
    report = asyncio.run(
        run_suite(
            paths, allow=settings.safety.allow.checker(), policy=settings.policy.checker(), catalog=settings.runbooks
        )
    )
    if not report.runbooks and not report.orphans:
        fail(f"no runbook or scenario file found in {', '.join(str(p) for p in paths)}", EXIT_USAGE)
    for problem in report.problems:
        click.echo(str(problem))
    for runbook in report.runbooks:
        click.echo(_runbook_text(runbook))
    click.echo(_summary(report))
    if junit_path is not None:
        try:
            junit_path.write_bytes(junit_xml(report))
        except OSError as exc:
            fail(f"cannot write --junit {junit_path}: {exc.strerror}", EXIT_USAGE)
    below = min_coverage is not None and report.tally.percent < min_coverage
    if below:
        click.echo(f"Coverage {_percent(report.tally)} is below --min-coverage {min_coverage:g}%.", err=True)
    if not report.passed or below:
        sys.exit(EXIT_PROBLEMS)


def _runbook_text(report: RunbookReport) -> str:
    title = f"{report.path} ({report.runbook.id})" if report.runbook is not None else report.path
    lines = [title]
    if report.coverage is None:
        lines.append("  not run: the runbook has errors (above)")
        return "\n".join(lines)
    coverage = report.coverage
    tallies = f"decisions {coverage.decision_tally}, statuses {coverage.status_tally}"
    summary = f"coverage {_percent(coverage.tally)}: {tallies}"
    if not report.scenario_files:
        lines.append("  no scenarios: write them in a `.test.yaml` file beside the runbook (docs/runbook-tests.md)")
        lines.append(f"  {summary}")
        return "\n".join(lines)
    for outcome in report.outcomes:
        verdict = "PASS" if outcome.passed else "FAIL"
        lines.append(f"  {verdict}  {outcome.scenario.name}")
        lines += [f"        {difference}" for difference in outcome.differences]
        lines += [f"        note: {error}" for error in outcome.decision_errors]
    lines.append(f"  {summary}")
    for decision in coverage.missed_decisions:
        lines.append(f"    not exercised: decision {decision.index + 1} ({decision.description})")
    missed: dict[str, list[str]] = {}
    for status in coverage.missed_statuses:
        missed.setdefault(status.diagnostic_id, []).append(status.status.value)
    for diagnostic_id, statuses in missed.items():
        lines.append(f"    not exercised: {diagnostic_id} reading {', '.join(statuses)}")
    return "\n".join(lines)


def _summary(report: SuiteReport) -> str:
    total, failed = len(report.outcomes), len(report.failed)
    errors = f", {_plural(len(report.errors), 'error')} in files" if report.errors else ""
    runbooks = _plural(len(report.runbooks), "runbook")
    return (
        f"{runbooks}, {_plural(total, 'scenario')}: {total - failed} passed, {failed} failed{errors}."
        f" Coverage {_percent(report.tally)} (decisions {report.decision_tally}, statuses {report.status_tally})."
        f" Scenarios ran in {report.scenario_ms:.1f} ms ({report.duration_ms:.0f} ms with linting)."
    )


def _percent(tally: Tally) -> str:
    """Rounded down, so that 99.96% never shows as 100%."""
    value = math.floor(tally.percent * 10) / 10
    return f"{value:g}%"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
