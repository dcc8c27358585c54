"""`handrail demo`: a game day on real components, and `handrail demo inject FAULT` from another terminal."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

import click
import httpx
from rich.console import Console

from handrail.cli.common import config_option, fail, settings_from
from handrail.demo import DemoError
from handrail.demo.faults import FAULTS, TIMED_FAULTS
from handrail.demo.feed import DemoFeed, render_event
from handrail.demo.world import DemoState, DemoWorld, inject_fault, read_state

__all__ = ["default_state_file", "demo"]

_POLL_SECONDS = 0.5
_WARM_UP_SECONDS = 5.0
"""Before `--inject`: a few scrapes of normal traffic first, so rates have a baseline."""


def default_state_file() -> Path:
    """Where the running demo says where it is: one per user on this machine."""
    return Path(tempfile.gettempdir()) / f"handrail-demo-{os.getuid()}.json"


_state_option = click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the running demo records its ports and tokens (default: a file per user in the temp folder).",
)


@click.group(invoke_without_command=True)
@click.option("--inject", "fault", type=click.Choice(list(FAULTS)), help="Inject this fault once everything runs.")
@click.option(
    "--minute-seconds",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="How long a runbook minute lasts (escalation timers, approval windows, cooldowns).",
)
@_state_option
@config_option
@click.pass_context
def demo(ctx: click.Context, fault: str | None, minute_seconds: float, state_file: Path | None) -> None:
    """Start a game day on this machine: a payment service on PostgreSQL, Prometheus, Alertmanager and
    Handrail watching it all. Inject faults from another terminal; Ctrl-C stops everything."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_from(ctx)
    console = Console(highlight=False)
    try:
        world = DemoWorld(
            runbooks=settings.runbooks,
            state_file=state_file or default_state_file(),
            minute_seconds=minute_seconds,
            say=lambda text: console.print(f"[dim]demo:[/dim] {text}"),
        )
    except DemoError as exc:
        fail(str(exc))
    # Ctrl-C and SIGTERM both stop the world (SIGINT explicitly: a parent may have started us with it ignored)
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    problem: DemoError | None = None
    try:
        state = world.start()
        _banner(console, state, world)
        if fault is not None:
            threading.Thread(target=_inject_later, args=(console, state, fault), daemon=True).start()
        _watch(console, state)
    except KeyboardInterrupt:
        console.print("[dim]demo:[/dim] stopping everything the demo started")
    except DemoError as exc:
        problem = exc
    finally:
        for signum in previous:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        world.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if problem is not None:
        fail(str(problem))
    console.print("[dim]demo:[/dim] stopped; nothing left running")


@demo.command("inject")
@click.argument("fault", type=click.Choice(list(FAULTS)))
@click.option("--seconds", type=click.FloatRange(min=1, max=3600), help="How long a timed fault lasts.")
@_state_option
def inject(fault: str, seconds: float | None, state_file: Path | None) -> None:
    """Make FAULT happen in the running demo (found through its state file)."""
    try:
        state = read_state(state_file or default_state_file())
        result = inject_fault(state, fault, seconds=seconds)
    except DemoError as exc:
        fail(str(exc))
    click.echo(_injected_text(fault, result))


@demo.command("clear")
@_state_option
def clear(state_file: Path | None) -> None:
    """End every fault in the running demo (leaked connections are given back, the certificate renewed)."""
    try:
        inject_fault(read_state(state_file or default_state_file()), "", clear=True)
    except DemoError as exc:
        fail(str(exc))
    click.echo("every fault cleared")


def _injected_text(fault: str, result: dict[str, object]) -> str:
    text = f"injected {fault}: {FAULTS[fault]}"
    leaked = result.get("leaked")
    if isinstance(leaked, list) and leaked:
        text += f" ({len(leaked)} sessions held open)"
    if fault in TIMED_FAULTS:
        active = result.get("active")
        left = active.get(fault) if isinstance(active, dict) else None
        if isinstance(left, int | float):
            text += f"; it ends by itself in {left:g} s"
    return text


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _banner(console: Console, state: DemoState, world: DemoWorld) -> None:
    console.print()
    console.print("[bold green]The demo runs.[/bold green] Everything lives in " + state.root)
    console.print(f"  console (handrail serve)  {state.console_url}   log in with the token below")
    console.print(f"  admin token               [bold]{state.admin_token}[/bold]")
    console.print(f"  payment service           {state.service_url}/metrics")
    console.print(f"  Prometheus                {state.prometheus_url}/alerts")
    console.print(f"  Alertmanager              {state.alertmanager_url}")
    console.print(f"  PostgreSQL                {state.database_conninfo}")
    console.print(f"  runbooks                  {world.runbooks}")
    console.print()
    console.print("Inject a fault from another terminal:")
    for name, what in FAULTS.items():
        console.print(f"  handrail demo inject {name:<22} [dim]{what}[/dim]")
    console.print("Ctrl-C stops everything.\n")


def _inject_later(console: Console, state: DemoState, fault: str) -> None:
    time.sleep(_WARM_UP_SECONDS)
    try:
        result = inject_fault(state, fault)
    except DemoError as exc:
        console.print(f"[red]demo: {exc}[/red]")
        return
    console.print(f"[bold]demo:[/bold] {_injected_text(fault, result)}")


def _watch(console: Console, state: DemoState) -> None:
    with httpx.Client() as client:
        feed = DemoFeed(client, state.api_url, state.admin_token, state.prometheus_url)
        while True:
            for event in feed.poll():
                console.print(render_event(event))
            time.sleep(_POLL_SECONDS)
