"""The `handrail` command. Thin: each command calls the same functions the API calls.

Exit codes: 0 success; 1 the input has problems; 2 usage errors; 3 an internal error (a bug).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from handrail import __version__
from handrail.cli.common import EXIT_INTERNAL, fail
from handrail.cli.incidents import incidents, report, trigger, worker
from handrail.cli.runbooks import evaluate, explain, lint, run, schema
from handrail.cli.serve import serve
from handrail.errors import HandrailError

__all__ = ["cli", "main"]


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


for _command in (lint, explain, run, schema, evaluate, trigger, worker, incidents, report, serve):
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
