"""The demo's long-running children: each in its own process group, logged to a file, stopped as a group.

A child is started in a new session, so a Ctrl-C in the terminal reaches only the demo itself, which
then stops its children in order: SIGTERM to the whole group, SIGKILL after a grace period. On Linux a
child also gets SIGTERM if the demo process dies without cleaning up (`PR_SET_PDEATHSIG`), so even a
`kill -9` of the demo leaves no server behind (PostgreSQL, detached by `pg_ctl`, is the exception: the
next `handrail demo` stops a cluster a dead demo left, see `world.py`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from handrail.demo import DemoError

__all__ = ["ChildProcess", "wait_until"]

_PR_SET_PDEATHSIG = 1
_STOP_GRACE = 10.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """One program of the demo world (a server), in its own process group, its output in `log`."""

    def __init__(self, name: str, argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DemoError(f"{self.name} was not started")
        return self.process.pid

    def start(self) -> None:
        """Start the program (from a long-lived thread: the death signal follows the thread that forks)."""
        with self.log.open("ab") as output:
            try:
                self.process = subprocess.Popen(  # noqa: S603 - argv built by the demo from fixed programs
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=self._env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            except OSError as exc:
                raise DemoError(f"could not start {self.name} ({self.argv[0]}): {exc}") from exc

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, size: int = 3000) -> str:
        """The end of the program's output, for error messages."""
        try:
            data = self.log.read_bytes()
        except OSError:
            return ""
        return data[-size:].decode(errors="replace")

    def stop(self, grace: float = _STOP_GRACE) -> None:
        """SIGTERM to the whole group, SIGKILL after `grace` seconds; then reap the program."""
        if self.process is None:
            return
        group = self.process.pid
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (self.process.poll() is None or _group_alive(group)):
            time.sleep(0.05)
        if self.process.poll() is None or _group_alive(group):
            _signal_group(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    """Whether a member of process group `group` still runs (zombies do not count)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            return True
    return False


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, child: ChildProcess | None = None) -> None:
    """Poll `check` until it holds; fail naming `what` (with the child's output) on timeout or early exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.process is not None and child.process.poll() is not None:
            raise DemoError(f"{child.name} exited with status {child.process.returncode}:\n{child.tail()}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    tail = f":\n{child.tail()}" if child is not None else ""
    raise DemoError(f"{what} was not ready within {timeout:g}s{tail}")
