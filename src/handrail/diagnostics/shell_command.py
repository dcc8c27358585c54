"""shell_command: a read-only command; its exit code and output are the evidence.

The probe runs what the runbook says. "Read-only" is a convention of diagnostics, not something
the probe can enforce: it does not sandbox the command, so reviewing runbooks (like code) is the
guard. What the probe does guarantee (the subprocess part is `handrail.process.run_process`):

- alert label values never become shell syntax: a string command is rendered with
  `render_shell`, which passes each value in an environment variable (`"${HANDRAIL_V1}"`), and an
  argv list is rendered with `render_argv`, where each value stays one argument;
- stdin is `/dev/null`, so a command that asks a question gets end-of-file instead of hanging;
- the environment is Handrail's own (so `PATH`, `HOME`, `KUBECONFIG` work) plus `env` and the
  template values; whatever Handrail's environment holds, the command can read;
- at most `max_output` bytes of stdout and of stderr are kept; the rest is read and dropped, so a
  chatty command never blocks on a full pipe, and the kept text ends with a marker line;
- the command runs in a new session (its own process group). On timeout or cancellation the
  whole group gets SIGTERM, then SIGKILL after a short grace, and the command is reaped; when the
  command exits by itself, whatever it left running in its group is ended the same way.

A non-zero exit status is evidence (`exit_code`), not an error; a command that cannot be started
(not found, not executable, missing `cwd`) raises `ProbeError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from handrail.diagnostics.base import Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.process import (
    KILL_GRACE,
    MAX_OUTPUT,
    CapturedOutput,
    ProcessResult,
    ProcessStartError,
    ProcessTimeoutError,
    describe_exit,
    format_size,
    run_process,
)
from handrail.runbook.template import render_argv, render_shell, render_text

__all__ = ["KILL_GRACE", "MAX_OUTPUT", "ShellCommandParams", "ShellCommandProbe"]


class ShellCommandParams(ProbeParams):
    """`command`: an argv list, or a string run by `/bin/sh -c`."""

    command: str | list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "exit_code": "the command's exit status",
        "stdout": "standard output (capped at 64 KiB)",
        "stderr": "standard error (capped at 64 KiB)",
        "lines": "standard output split into lines",
        "json": "standard output parsed as JSON (null when it is not JSON)",
    }


@dataclass(frozen=True, slots=True)
class _Command:
    """A command ready to start: argv, the environment to add, and where to run it."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None


class ShellCommandProbe:
    """Runs `shell_command` diagnostics as subprocesses in their own process group."""

    def __init__(self, *, max_output: int = MAX_OUTPUT, kill_grace: float = KILL_GRACE) -> None:
        if max_output <= 0:
            raise ValueError("max_output must be positive")
        self._max_output = max_output
        self._kill_grace = kill_grace

    async def observe(self, params: ShellCommandParams, context: ProbeContext) -> Observation:
        """Run the command within `context.timeout` and report its exit status and output."""
        command = _prepare(params, context)
        result = await self._run(command, context.timeout)
        stdout, stderr = result.stdout, result.stderr
        lines = stdout.text.splitlines()
        values: dict[str, Any] = {
            "exit_code": result.exit_code,
            "stdout": stdout.shown(),
            "stderr": stderr.shown(),
            "lines": lines,
            "json": None if stdout.cut else _json(stdout.text),
        }
        return Observation(values=values, message=_message(result.exit_code, lines, stdout, stderr))

    async def aclose(self) -> None:
        """Nothing to release: every command is reaped before `observe` returns."""

    async def _run(self, command: _Command, timeout: float) -> ProcessResult:
        try:
            return await run_process(
                command.argv,
                env=command.env,
                cwd=command.cwd,
                timeout=timeout,
                max_output=self._max_output,
                kill_grace=self._kill_grace,
            )
        except ProcessStartError as exc:
            raise ProbeError(str(exc)) from exc
        except ProcessTimeoutError as exc:
            raise ProbeError(f"timed out after {timeout:g}s (the command's process group was killed)") from exc


def _prepare(params: ShellCommandParams, context: ProbeContext) -> _Command:
    """Render the command and its environment, or raise `ProbeError`."""
    try:
        env = {name: render_text(value, context.template) for name, value in params.env.items()}
        if isinstance(params.command, list):
            argv = render_argv(params.command, context.template)
        else:
            script = render_shell(params.command, context.template)
            argv = ["/bin/sh", "-c", script.script]
            env |= script.env  # last, so `env` cannot replace a value render_shell inserted
    except TemplateError as exc:
        raise ProbeError(f"command: {exc}") from exc
    if any("\0" in part for part in [*argv, *env, *env.values()]):
        raise ProbeError("command: an argument or environment value would contain a NUL byte")
    if params.cwd is not None and not Path(params.cwd).is_dir():
        raise ProbeError(f"cwd {params.cwd!r} is not a directory")
    return _Command(argv, env, params.cwd)


def _json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _message(exit_code: int, lines: list[str], stdout: CapturedOutput, stderr: CapturedOutput) -> str:
    message = f"{describe_exit(exit_code)}; {len(lines)} line{'' if len(lines) == 1 else 's'}"
    if stdout.cut:
        message += f" (stdout cut at {format_size(stdout.limit)})"
    if exit_code != 0:
        first = next((line.strip() for line in stderr.text.splitlines() if line.strip()), "")
        if first:
            message += f"; stderr: {first if len(first) <= 200 else first[:200] + '…'}"
    return message
