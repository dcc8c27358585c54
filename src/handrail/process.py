"""One way to run a subprocess, for probes and actions alike.

`run_process` starts a program and guarantees:

- stdin is `/dev/null`, so a program that asks a question gets end-of-file instead of hanging;
- the environment is Handrail's own plus `env` (so `PATH`, `HOME`, `KUBECONFIG` work), without the
  variables named by `withhold_environment` (the secrets handrail.yaml's `${...}` read);
- at most `max_output` bytes of stdout and of stderr are kept; the rest is read and dropped, so a
  chatty program never blocks on a full pipe;
- the program runs in a new session (its own process group). On timeout or cancellation the whole
  group gets SIGTERM, then SIGKILL after `kill_grace`, and the program is reaped; when the program
  exits by itself, whatever it left running in its group is ended the same way;
- every descendant ends when the run ends, also one that left the group (`setsid`, a double
  fork): each run's environment carries a marker of its own (`HANDRAIL_STEP=<random>`), which
  descendants inherit, and once the group is gone every process whose `/proc/<pid>/environ` holds
  it gets SIGKILL, scan after scan until none is left. A process that drops or rewrites that
  variable (`env -i`), or whose environment Handrail may not read (another user, setuid), is
  beyond it (docs/security.md);
- it returns once the program has exited, even when a background process that left the group
  still holds the pipes open.

A non-zero exit status is part of the result, not an error. A program that cannot be started
raises `ProcessStartError`; one that runs past `timeout` raises `ProcessTimeoutError` (with what
it wrote until then). Callers translate both into their own errors (`ProbeError`, `ActionError`).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KILL_GRACE",
    "MARKER",
    "MAX_OUTPUT",
    "CapturedOutput",
    "ProcessError",
    "ProcessResult",
    "ProcessStartError",
    "ProcessTimeoutError",
    "describe_exit",
    "format_size",
    "run_process",
    "withhold_environment",
]

MAX_OUTPUT = 64 * 1024
"""Bytes of stdout (and of stderr) kept by default; the rest is read and dropped."""
KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when the process group has to go."""
MARKER = "HANDRAIL_STEP"
"""The environment variable whose value (random, one per run) marks every descendant of one run."""
_EXIT_GRACE = 1.0
"""After the group is gone, how long to wait for end-of-file (a process that left the group may hold the pipes)."""
_POLL = 0.02
_SECOND_LOOKS = 25
"""How many more scans a process born during the run with an empty environment gets (2 ms apart)."""
_PF_KTHREAD = 0x00200000
_RESERVED_PIDS = 300
"""Linux hands out pids below this only before the first wrap (kernel/pid.c)."""
_PROC = Path("/proc")
_withheld: frozenset[str] = frozenset()


def withhold_environment(names: Iterable[str]) -> None:
    """Keep these variables of Handrail's environment from every program it starts (set once, at start)."""
    global _withheld
    _withheld = frozenset(names)


class ProcessError(Exception):
    """A subprocess could not be run to its end (translated by the caller into its own error)."""


class ProcessStartError(ProcessError):
    """The program could not be started: not found, not executable, a missing `cwd`, a NUL byte."""


class ProcessTimeoutError(ProcessError):
    """The program ran past its timeout; its whole process group was killed."""

    def __init__(self, timeout: float, stdout: CapturedOutput, stderr: CapturedOutput) -> None:
        super().__init__(f"timed out after {timeout:g}s (the process group was killed)")
        self.timeout = timeout
        self.stdout = stdout
        """What the program wrote before it was killed."""
        self.stderr = stderr


@dataclass(frozen=True, slots=True)
class CapturedOutput:
    """One stream: the kept text, how many bytes there were in all, and whether the rest was dropped."""

    text: str
    """The kept bytes as UTF-8 (bad bytes replaced; a character split by the cut is dropped)."""
    total_bytes: int
    limit: int
    cut: bool

    def shown(self) -> str:
        """The kept text, with a marker line when the stream was cut."""
        if not self.cut:
            return self.text
        separator = "" if self.text.endswith("\n") or not self.text else "\n"
        return f"{self.text}{separator}… [output cut at {format_size(self.limit)}; {self.total_bytes} bytes in all]\n"


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How the program ended and what it wrote."""

    exit_code: int
    """The exit status; minus the signal number when a signal ended it (as in `subprocess`)."""
    stdout: CapturedOutput
    stderr: CapturedOutput


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float,
    max_output: int = MAX_OUTPUT,
    kill_grace: float = KILL_GRACE,
) -> ProcessResult:
    """Run `argv` in its own process group within `timeout` seconds, and reap everything it started.

    Args:
        argv: the program and its arguments; no shell parses them.
        env: variables added to (or replacing) Handrail's own environment.
        cwd: the working directory; Handrail's own when None.
        timeout: seconds until the process group is killed and `ProcessTimeoutError` is raised.
        max_output: bytes kept of stdout and of stderr each.
        kill_grace: seconds between SIGTERM and SIGKILL.

    Raises:
        ProcessStartError: the program could not be started.
        ProcessTimeoutError: the program ran past `timeout`.
    """
    if max_output <= 0:
        raise ValueError("max_output must be positive")
    if not argv:
        raise ProcessStartError("nothing to run: the argument list is empty")
    extra = dict(env or {})
    if any("\0" in part for part in [*argv, *extra, *extra.values()]):
        raise ProcessStartError("an argument or environment value contains a NUL byte")
    loop = asyncio.get_running_loop()
    token = secrets.token_hex(16)
    since = _pid_clock()  # before the start: every descendant gets a pid handed out after this
    environment = {k: v for k, v in os.environ.items() if k not in _withheld} | extra | {MARKER: token}
    marker = f"{MARKER}={token}".encode()
    starting = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: _Protocol(max_output),
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=environment,
            start_new_session=True,
        )
    )
    try:
        # shielded: cancelled mid-start, asyncio would wait for the pipes to close (a background
        # child can hold them for ever) and never end the group
        transport, protocol = await asyncio.shield(starting)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ProcessStartError(f"cannot start {argv[0]!r}: {reason}") from exc
    except asyncio.CancelledError:
        # all it started carries the marker already; a start not yet begun never begins, and one
        # under way completes once the pipes close
        _end_marked(marker, since)
        starting.cancel()
        starting.add_done_callback(_close_started)
        raise
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await protocol.exited.wait()
        except TimeoutError:
            timed_out = True
    finally:
        # On every way out (exit, timeout, cancellation) nothing of the program's group survives,
        # and the pipes are closed even if a process that left the group still holds them.
        try:
            try:
                await _end_group(transport.get_pid(), protocol, kill_grace)
            finally:
                _end_marked(marker, since)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_EXIT_GRACE):
                    await protocol.closed.wait()
        finally:
            transport.close()
    stdout, stderr = protocol.stdout.captured(), protocol.stderr.captured()
    if timed_out:
        raise ProcessTimeoutError(timeout, stdout, stderr)
    returncode = transport.get_returncode()
    assert returncode is not None
    return ProcessResult(returncode, stdout, stderr)


def _close_started(starting: asyncio.Future[tuple[asyncio.SubprocessTransport, _Protocol]]) -> None:
    """Close the transport of a start that completed after its run was cancelled."""
    if not starting.cancelled() and starting.exception() is None:
        starting.result()[0].close()


def describe_exit(exit_code: int) -> str:
    """`exit 3`, or `killed by SIGKILL` for a negative exit code."""
    if exit_code >= 0:
        return f"exit {exit_code}"
    try:
        return f"killed by {signal.Signals(-exit_code).name}"
    except ValueError:
        return f"killed by signal {-exit_code}"


def format_size(count: int) -> str:
    """`64 KiB`, `1 MiB` or `5 bytes`."""
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


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

    def captured(self) -> CapturedOutput:
        cut = self.total > len(self.kept)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # not final when cut: a character split by the cut is dropped rather than replaced
        return CapturedOutput(decoder.decode(bytes(self.kept), final=not cut), self.total, self.limit, cut)


class _Protocol(asyncio.SubprocessProtocol):
    """Feeds stdout and stderr into captures as they arrive, and notes when the program exits.

    Data is taken in callbacks and never waits for a reader, so the pipes never fill up. The
    program's exit is its own event: `Process.wait()` would also wait for end-of-file, which a
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


async def _end_group(pgid: int, protocol: _Protocol, kill_grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after the grace, and wait until the program is reaped."""
    # start_new_session: the program leads its own process group, so its pid is the group's id
    if protocol.exited.is_set() and not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + kill_grace
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


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is still in group `pgid`."""
    # kill(0) first: it reaches zombies too, so "no such process" settles it with one system call. That is
    # the usual end (the program exited, asyncio reaped it, nothing stayed behind), and a scan of /proc costs
    # about 10 ms of CPU per call with a few hundred processes: a third of an incident's CPU (#14).
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _PROC.is_dir():
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


def _end_marked(marker: bytes, since: tuple[int, int] | None) -> None:
    """SIGKILL every process whose environment holds `marker`, until a scan finds none left alive.

    These are the run's descendants that left its process group. Only processes whose pid was
    handed out since the run started are looked at (`since`, from `_pid_clock`; all of them when
    that is unknown). Synchronous, so a second cancellation cannot interrupt it. A process already
    sent SIGKILL cannot fork again, so each scan finds only what was born during the one before.
    A process in the middle of `execve` shows an empty environment for a moment: one born since
    the run started with an empty environment is looked at again, briefly.
    """
    if not _PROC.is_dir():
        return
    entry = b"\0" + marker + b"\0"
    killed: set[tuple[int, bytes]] = set()
    second_looks = 0
    while True:
        found, unsure = _marked(entry, _born_since(since))
        fresh = [process for process in found if process not in killed]
        for pid, _ in fresh:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(fresh)
        if fresh:
            continue
        if not unsure or second_looks >= _SECOND_LOOKS:
            return
        second_looks += 1
        time.sleep(_POLL / 10)


def _marked(entry: bytes, born: Callable[[int], bool]) -> tuple[list[tuple[int, bytes]], bool]:
    """(pid, start time) of every live process born since the run started whose environment holds
    `entry`, and whether one of those showed an empty environment (perhaps mid-`execve`)."""
    own = os.getpid()
    found, unsure = [], False
    for name in os.listdir(_PROC):
        if not name.isdigit() or not born(pid := int(name)) or pid == own:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as file:
                environ = file.read()
            marked = entry in b"\0" + environ + b"\0"
            if not marked and environ:
                continue
            with open(f"/proc/{name}/stat", "rb") as file:
                stat = file.read()
        except OSError:  # gone, or not ours to read
            continue
        # pid (comm) state ppid pgrp session tty tpgid flags ... starttime (field 22): a pid reused
        # later is another process
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) <= 19 or fields[0] in (b"Z", b"X"):
            continue
        if marked:
            found.append((pid, fields[19]))
        elif not int(fields[6]) & _PF_KTHREAD:
            unsure = True
    return found, unsure


def _pid_clock() -> tuple[int, int] | None:
    """The last pid handed out in this pid namespace and the forks since boot; None where unknown."""
    try:
        last = int((_PROC / "sys/kernel/ns_last_pid").read_bytes())
        with open(_PROC / "stat", "rb") as file:
            forks = next(int(line.split()[1]) for line in file if line.startswith(b"processes "))
    except (OSError, ValueError, StopIteration):
        return None
    return last, forks


def _born_since(since: tuple[int, int] | None) -> Callable[[int], bool]:
    """Whether a pid was handed out after `since`: Linux hands pids out in turn, wrapping at pid_max.

    When as many processes as there are pids may have been forked since (the count of forks is
    the whole machine's, so it errs that way), every pid may be new.
    """
    now = _pid_clock()
    try:
        pid_max = int((_PROC / "sys/kernel/pid_max").read_bytes())
    except (OSError, ValueError):
        now = None
    if since is None or now is None or now[1] - since[1] >= pid_max - _RESERVED_PIDS:
        return lambda pid: True
    first, last = since[0], now[0]
    if first <= last:
        return lambda pid: first < pid <= last
    return lambda pid: pid > first or pid <= last  # wrapped around pid_max
