"""shell_command: a read-only command; its exit code and output are the evidence.

The probe runs what the runbook says. "Read-only" is a convention of diagnostics, not something
the probe can enforce: it does not sandbox the command, so reviewing runbooks (like code) is the
guard. What the probe does guarantee:

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

import asyncio
import codecs
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from handrail.diagnostics.base import Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.runbook.template import render_argv, render_shell, render_text

__all__ = ["KILL_GRACE", "MAX_OUTPUT", "ShellCommandParams", "ShellCommandProbe"]

MAX_OUTPUT = 64 * 1024
"""Bytes of stdout (and of stderr) kept by default; the rest is read and dropped."""
KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when the process group has to go."""
_EXIT_GRACE = 1.0
"""After the group is gone, how long to wait for end-of-file (a process that left the group may hold the pipes)."""
_READ_CHUNK = 64 * 1024
_POLL = 0.02
_PROC = Path("/proc")


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


class _Capture:
    """Keeps the first `limit` bytes of a stream and counts (and drops) the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    @property
    def cut(self) -> bool:
        return self.total > len(self.kept)

    def text(self) -> str:
        """The kept bytes as UTF-8 (bad bytes replaced; a character split by the cut is dropped)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return decoder.decode(bytes(self.kept), final=not self.cut)

    def shown(self) -> str:
        """The kept text, with a marker line when the stream was cut."""
        text = self.text()
        if not self.cut:
            return text
        separator = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{separator}… [output cut at {_size(self.limit)}; {self.total} bytes in all]\n"


class _Protocol(asyncio.SubprocessProtocol):
    """Feeds stdout and stderr into captures as they arrive, and notes when the command exits.

    Data is taken in callbacks and never waits for a reader, so the pipes never fill up. The
    command's exit is its own event: `Process.wait()` would also wait for end-of-file, which a
    background process that inherited the pipes can put off indefinitely.
    """

    def __init__(self, limit: int) -> None:
        self.stdout = _Capture(limit)
        self.stderr = _Capture(limit)
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.stdout if fd == 1 else self.stderr).feed(data)

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


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
        stdout, stderr, exit_code = await self._run(command, context.timeout)
        text = stdout.text()
        lines = text.splitlines()
        values: dict[str, Any] = {
            "exit_code": exit_code,
            "stdout": stdout.shown(),
            "stderr": stderr.shown(),
            "lines": lines,
            "json": None if stdout.cut else _json(text),
        }
        return Observation(values=values, message=_message(exit_code, lines, stdout, stderr))

    async def aclose(self) -> None:
        """Nothing to release: every command is reaped before `observe` returns."""

    async def _run(self, command: _Command, timeout: float) -> tuple[_Capture, _Capture, int]:
        env = {**os.environ, **command.env} if command.env else None
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(self._max_output),
                *command.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=command.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ProbeError(f"cannot start {command.argv[0]!r}: {reason}") from exc
        timed_out = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    await protocol.exited.wait()
            except TimeoutError:
                timed_out = True
        finally:
            # On every way out (exit, timeout, cancellation) nothing of the command's group survives,
            # and the pipes are closed even if a process that left the group still holds them.
            try:
                await self._end_group(transport.get_pid(), protocol)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_EXIT_GRACE):
                        await protocol.closed.wait()
            finally:
                transport.close()
        if timed_out:
            raise ProbeError(f"timed out after {timeout:g}s (the command's process group was killed)")
        returncode = transport.get_returncode()
        assert returncode is not None
        return protocol.stdout, protocol.stderr, returncode

    async def _end_group(self, pgid: int, protocol: _Protocol) -> None:
        """SIGTERM the process group, SIGKILL it after the grace, and wait until the command is reaped."""
        # start_new_session: the command leads its own process group, so its pid is the group's id
        if protocol.exited.is_set() and not _group_alive(pgid):
            return
        _signal_group(pgid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._kill_grace
        try:
            while loop.time() < deadline:
                if protocol.exited.is_set() and not _group_alive(pgid):
                    return
                await asyncio.sleep(_POLL)
        finally:
            # also when cancelled again during the grace: SIGKILL cannot be caught or ignored
            if not protocol.exited.is_set() or _group_alive(pgid):
                _signal_group(pgid, signal.SIGKILL)
        await protocol.exited.wait()


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


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is still in group `pgid`."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # /proc, because kill(0) also reaches zombies, and a zombie whose parent died waits for init
    # to reap it (which not every container's init does).
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _message(exit_code: int, lines: list[str], stdout: _Capture, stderr: _Capture) -> str:
    if exit_code < 0:
        try:
            status = f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            status = f"killed by signal {-exit_code}"
    else:
        status = f"exit {exit_code}"
    message = f"{status}; {len(lines)} line{'' if len(lines) == 1 else 's'}"
    if stdout.cut:
        message += f" (stdout cut at {_size(stdout.limit)})"
    if exit_code != 0:
        first = next((line.strip() for line in stderr.text().splitlines() if line.strip()), "")
        if first:
            message += f"; stderr: {first if len(first) <= 200 else first[:200] + '…'}"
    return message
