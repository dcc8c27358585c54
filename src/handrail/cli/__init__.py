"""The `handrail` command. Thin: each command calls the same functions the API calls.

Exit codes: 0 success; 1 the input has problems; 2 usage errors; 3 an internal error (a bug).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import click

from handrail import __version__
from handrail.cli.common import EXIT_INTERNAL, fail
from handrail.cli.runbooks import evaluate, explain, lint, run, schema
from handrail.errors import HandrailError

__all__ = ["cli", "main"]


def _incident_commands() -> dict[str, click.Command]:
    from handrail.cli.incidents import incidents, report, trigger, worker

    return {"trigger": trigger, "worker": worker, "incidents": incidents, "report": report}


def _serve_command() -> dict[str, click.Command]:
    from handrail.cli.serve import serve

    return {"serve": serve}


def _demo_command() -> dict[str, click.Command]:
    from handrail.cli.demo import demo

    return {"demo": demo}


def _replay_command() -> dict[str, click.Command]:
    from handrail.cli.replay import replay_command

    return {"replay": replay_command}


def _check_command() -> dict[str, click.Command]:
    from handrail.cli.check import check

    return {"check": check}


def _test_command() -> dict[str, click.Command]:
    from handrail.cli.scenarios import runbook_tests

    return {"test": runbook_tests}


class LazyGroup(click.Group):
    """Commands whose modules load the engine (DBOS), the API (FastAPI) or the notifiers are imported
    only when one of them runs, so `handrail lint` and `handrail eval` start quickly."""

    LOADERS: ClassVar[dict[str, Callable[[], dict[str, click.Command]]]] = {
        "trigger": _incident_commands,
        "worker": _incident_commands,
        "incidents": _incident_commands,
        "report": _incident_commands,
        "serve": _serve_command,
        "test": _test_command,
        "replay": _replay_command,
        "demo": _demo_command,
        "check": _check_command,
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LOADERS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LOADERS and cmd_name not in self.commands:
            for name, command in self.LOADERS[cmd_name]().items():
                self.add_command(command, name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


for _command in (lint, explain, run, schema, evaluate):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; whatever happens, the user gets a message and an exit code, never a traceback."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="handrail", standalone_mode=True)
    except HandrailError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except Exception as exc:
        fail(f"internal error: {type(exc).__name__}: {exc} (please report this)", EXIT_INTERNAL)
