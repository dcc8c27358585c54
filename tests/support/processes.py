"""Looking at processes from tests: which members of a process group are still alive."""

from __future__ import annotations

import asyncio
from pathlib import Path

__all__ = ["ESCAPE", "in_process_table", "is_running", "live_members", "wait_for_lines", "wait_until_gone"]


# A careless command's detached leftover: out of the process group (setsid), it would touch {touched}
# six seconds later; its pid goes to {pids}. Format it, then append what the command does next.
ESCAPE = "setsid sh -c 'sleep 6; touch {touched}' >/dev/null 2>&1 & echo $! > {pids}; "


def live_members(pgid: int) -> list[int]:
    """Processes of group `pgid` that are not zombies (this machine's init may not reap orphans)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _, pgrp = stat[stat.rfind(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in ("Z", "X")


def in_process_table(pid: int) -> bool:
    """Whether `pid` is still in the process table: running, or a zombie its parent has not reaped."""
    return Path(f"/proc/{pid}").exists()


async def wait_for_lines(path: Path, count: int) -> list[int]:
    """The pids a test command wrote to `path`, once it has written `count` of them."""
    for _ in range(500):
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return [int(line) for line in lines]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never got {count} lines")


async def wait_until_gone(pid: int) -> None:
    """Return once `pid` no longer runs (a zombie counts as gone); the test's own timeout bounds the wait."""
    while is_running(pid):
        await asyncio.sleep(0.05)
