"""`handrail serve`: the HTTP API and the incident engine in one process."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click
import uvicorn

from handrail.api import create_app
from handrail.cli.common import config_option, settings_from
from handrail.composition import create_worker, open_api_state
from handrail.console import install_console
from handrail.engine.worker import Worker

__all__ = ["serve"]


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (used when standard error is not a terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    if not sys.stderr.isatty():
        handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("uvicorn.access", "httpx", "dbos", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-engine", is_flag=True, help="Serve the API only (run `handrail worker` elsewhere).")
@config_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, no_engine: bool) -> None:
    """Serve the HTTP API (and run the incident engine) until interrupted."""
    settings = settings_from(ctx)
    _configure_logging()
    state, generated = open_api_state(settings)
    for name, token in generated:
        click.echo(f"handrail serve: generated the {name} token (shown once, stored hashed): {token}", err=True)

    async def engine() -> Worker:
        return create_worker(settings)

    app = create_app(state, engine=None if no_engine else engine)
    install_console(app, state)
    click.echo(f"handrail serve: listening on http://{host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)
