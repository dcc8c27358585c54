"""What every `handrail` command shares: settings, failure, exit codes, argument parsing.

Exit codes: 0 success; 1 the input has problems (lint errors, a failing expression, an incident
command that does not fit); 2 usage errors (unknown option, missing file, bad settings);
3 an internal error (a bug: please report it).
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from click.decorators import FC

from handrail.catalog import SHOWN_PROBLEMS, resolve_runbook
from handrail.errors import CatalogError, IncidentError, RunbookError, SettingsError
from handrail.process import withhold_environment
from handrail.runbook.model import Runbook, parse_duration
from handrail.settings import Settings, load_settings

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "await_service",
    "config_option",
    "fail",
    "json_safe",
    "limit_option",
    "output_option",
    "parse_pairs",
    "resolve",
    "runbook_paths",
    "settings_from",
    "since_option",
]

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

T = TypeVar("T")


def await_service(call: Coroutine[Any, Any, T]) -> T:
    """Run one call of the (async) incident service to its end; an incident error is exit 1 with its message."""
    try:
        return asyncio.run(call)
    except IncidentError as exc:
        fail(str(exc))


def settings_from(ctx: click.Context) -> Settings:
    """The settings named by `--config` (before or after the command), or ./handrail.yaml."""
    config: Path | None = ctx.ensure_object(dict).get("config")
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        fail(str(exc), EXIT_USAGE)
    withhold_environment(settings.environment_names)  # secrets stay out of the programs runbooks run
    return settings


def runbook_paths(settings: Settings, paths: Sequence[Path]) -> list[Path]:
    """The PATHS a command was given, or the catalog folder when none (which must exist)."""
    if paths:
        return list(paths)
    if not settings.runbooks.is_dir():
        fail(f"the runbook folder {settings.runbooks} does not exist (set `runbooks:` in handrail.yaml)", EXIT_USAGE)
    return [settings.runbooks]


def fail(message: str, code: int = EXIT_PROBLEMS) -> NoReturn:
    click.echo(f"handrail: {message}", err=True)
    sys.exit(code)


def _since(_: click.Context, __: click.Parameter, value: str) -> datetime:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not isinstance(seconds, float) or seconds <= 0:
        raise click.BadParameter(f"'{value}' is not a duration (like 30d, 12h)")
    try:
        return datetime.now(UTC) - timedelta(seconds=seconds)
    except OverflowError as exc:
        raise click.BadParameter(f"'{value}' reaches back before the year 1") from exc


def since_option(default: str) -> Callable[[FC], FC]:
    """`--since DURATION`, a datetime that far back from now."""
    return click.option(
        "--since",
        default=default,
        show_default=True,
        callback=_since,
        metavar="DURATION",
        help="Only incidents triggered within this long (30d, 12h, 90m).",
    )


def limit_option(default: int, most: int, text: str) -> Callable[[FC], FC]:
    """`--limit N`, from 1 to `most`."""
    return click.option("--limit", default=default, show_default=True, type=click.IntRange(1, most), help=text)


def output_option(text: str = "Write to this file instead of standard output.") -> Callable[[FC], FC]:
    """`--output/-o FILE`."""
    return click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help=text)


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


def resolve(reference: str, settings: Settings) -> Runbook:
    """A runbook by id or path, or a failure that shows its problems."""
    try:
        return resolve_runbook(reference, settings.runbooks, policy=settings.policy.checker())
    except RunbookError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        fail(f"{reference} has errors; fix them first (`handrail lint`)")
    except CatalogError as exc:
        for problem in exc.problems[:SHOWN_PROBLEMS]:  # an id whose file has errors: the first, as lint prints them
            click.echo(str(problem), err=True)
        if len(exc.problems) > SHOWN_PROBLEMS:
            click.echo(f"… and {len(exc.problems) - SHOWN_PROBLEMS} more", err=True)
        fail(str(exc))


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """`KEY=VALUE` arguments as a mapping; anything else is a usage error."""
    parsed = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            fail(f"{option} {pair!r}: write KEY=VALUE", EXIT_USAGE)
        parsed[key.strip()] = value
    return parsed


def json_safe(value: Any) -> Any:
    """NaN and infinities as the strings Prometheus uses, so the output is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value
