"""What actions that run a program share: rendering the command safely, and reporting its output."""

from __future__ import annotations

from collections.abc import Sequence

from handrail.actions.base import ActionContext
from handrail.errors import ActionError, TemplateError
from handrail.process import CapturedOutput
from handrail.runbook.template import render_argv, render_shell

__all__ = ["combined_output", "render_command"]


def render_command(
    command: str | Sequence[str], context: ActionContext, *, label: str = "command"
) -> tuple[list[str], dict[str, str]]:
    """A string runs with `/bin/sh -c` (label values in its environment); a list runs as argv.

    Raises:
        ActionError: a template cannot be rendered safely, or a value would carry a NUL byte.
    """
    try:
        if isinstance(command, str):
            script = render_shell(command, context.template)
            argv, env = ["/bin/sh", "-c", script.script], dict(script.env)
        else:
            argv, env = render_argv(command, context.template), {}
    except TemplateError as exc:
        raise ActionError(f"{label}: {exc}") from exc
    if any("\0" in part for part in [*argv, *env.values()]):
        raise ActionError("an argument or environment value would contain a NUL byte")
    return argv, env


def combined_output(stdout: CapturedOutput, stderr: CapturedOutput) -> str:
    """stdout, then stderr under a marker line when there is any (each capped)."""
    out, err = stdout.shown(), stderr.shown()
    if not err:
        return out
    if not out:
        return err
    separator = "" if out.endswith("\n") else "\n"
    return f"{out}{separator}--- stderr ---\n{err}"
