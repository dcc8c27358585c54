"""What the machine that runs the runbook must have: programs on its PATH, readable log files, hosts it can resolve.

`handrail check` asks on the machine it runs on; `handrail serve` asks where the engine runs, which is
where these matter.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
from collections.abc import Sequence

from handrail.check.base import Finding, HostName, LogFile, Program

__all__ = ["HostChecker", "LocalChecker"]

_RESOLVE_TIMEOUT = 10.0


class LocalChecker:
    """Checks `Program` (on PATH, or an executable path) and `LogFile` (a readable file, or a glob that finds one)."""

    async def check(self, subject: Program | LogFile) -> Sequence[Finding]:
        if isinstance(subject, Program):
            return await asyncio.to_thread(_program, subject.name)
        return await asyncio.to_thread(_log_file, subject.pattern)

    async def aclose(self) -> None:
        return None


def _program(name: str) -> list[Finding]:
    if shutil.which(name) is not None:
        return []
    if os.sep in name:
        return [Finding("HR608", f"this machine has no executable program {name}", 0, name)]
    return [Finding("HR608", f"program '{name}' is not on this machine's PATH", 0, name)]


def _log_file(pattern: str) -> list[Finding]:
    if glob.has_magic(pattern):
        files = [path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path)]
        if not files:
            return [Finding("HR609", f"no file on this machine matches {pattern}")]
        if not any(os.access(path, os.R_OK) for path in files):
            return [Finding("HR609", f"none of the {len(files)} files matching {pattern} is readable on this machine")]
        return []
    if not os.path.isfile(pattern):
        return [Finding("HR609", f"this machine has no file {pattern}")]
    if not os.access(pattern, os.R_OK):
        return [Finding("HR609", f"{pattern} is not readable on this machine (permissions)")]
    return []


class HostChecker:
    """Checks that each host an `http_check` or `tls_certificate` connects to resolves (DNS, /etc/hosts)."""

    def __init__(self) -> None:
        self._resolved: dict[str, asyncio.Task[str | None]] = {}

    async def check(self, subject: HostName) -> Sequence[Finding]:
        task = self._resolved.get(subject.host)
        if task is None:
            task = self._resolved[subject.host] = asyncio.ensure_future(_resolve(subject.host))
        problem = await asyncio.shield(task)
        if problem is None:
            return []
        return [
            Finding("HR610", f"host '{subject.host}' does not resolve on this machine: {problem}", token=subject.host)
        ]

    async def aclose(self) -> None:
        self._resolved.clear()


async def _resolve(host: str) -> str | None:
    try:
        async with asyncio.timeout(_RESOLVE_TIMEOUT):
            await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except TimeoutError:
        return f"no answer within {_RESOLVE_TIMEOUT:g}s"
    except (socket.gaierror, UnicodeError, OSError) as exc:
        return str(exc.args[-1]) if exc.args else type(exc).__name__
    return None
