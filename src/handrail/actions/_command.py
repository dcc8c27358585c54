"""What actions that run a program share: rendering the command safely, and reporting its output."""

from __future__ import annotations

from collections.abc import Sequence

from handrail.actions.base import ActionContext, ActionOutcome
from handrail.errors import ActionError, TemplateError
from handrail.process import CapturedOutput, ProcessStartError, ProcessTimeoutError, describe_exit, run_process
from handrail.runbook.template import render_argv, render_shell

__all__ = ["render_command", "run_command"]


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


def _combined_output(stdout: CapturedOutput, stderr: CapturedOutput) -> str:
    """stdout, then stderr under a marker line when there is any (each capped)."""
    out, err = stdout.shown(), stderr.shown()
    if not err:
        return out
    if not out:
        return err
    separator = "" if out.endswith("\n") else "\n"
    return f"{out}{separator}--- stderr ---\n{err}"


async def run_command(
    argv: list[str], env: dict[str, str], context: ActionContext, *, timeout: float, max_output: int, kill_grace: float
) -> ActionOutcome:
    """Run a rendered command once: exit 0 is success; the incident and idempotency key travel in its environment."""
    env = env | {"HANDRAIL_INCIDENT_ID": context.incident_id, "HANDRAIL_IDEMPOTENCY_KEY": context.idempotency_key}
    try:
        result = await run_process(argv, env=env, timeout=timeout, max_output=max_output, kill_grace=kill_grace)
    except ProcessStartError as exc:
        raise ActionError(str(exc)) from exc
    except ProcessTimeoutError as exc:
        output = _combined_output(exc.stdout, exc.stderr)
        return ActionOutcome(False, f"timed out after {timeout:g}s (process group killed)", output)
    output = _combined_output(result.stdout, result.stderr)
    if result.exit_code == 0:
        return ActionOutcome(True, "exit 0", output)
    message = describe_exit(result.exit_code)
    last = next((line.strip() for line in reversed(result.stderr.text.splitlines()) if line.strip()), "")
    if last:
        message += f"; stderr: {last if len(last) <= 200 else last[:200] + '…'}"
    return ActionOutcome(False, message, output)
