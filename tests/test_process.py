"""run_process against real subprocesses: exit codes, signals, caps, timeouts, cancellation, leftovers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from handrail import process
from handrail.process import (
    MARKER,
    ProcessResult,
    ProcessStartError,
    ProcessTimeoutError,
    describe_exit,
    format_size,
    run_process,
    withhold_environment,
)
from support.processes import ESCAPE, is_running, live_members, wait_for_lines, wait_until_gone

pytestmark = [
    # an unclosed subprocess transport or pipe shows up as one of these
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]


async def run(
    argv: list[str],
    *,
    timeout: float = 10.0,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    max_output: int = 65536,
    kill_grace: float = 2.0,
) -> ProcessResult:
    return await run_process(argv, env=env, cwd=cwd, timeout=timeout, max_output=max_output, kill_grace=kill_grace)


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def group_script(pids: Path, *, ignore_term: bool = False) -> str:
    """sh writes its pid (the group id) and two background children's pids to `pids`, then waits."""
    trap = "trap '' TERM; " if ignore_term else ""
    return f"{trap}echo $$ > {pids}; sleep 60 & echo $! >> {pids}; sleep 60 & echo $! >> {pids}; wait"


# -- exit status and output ---------------------------------------------------------------


async def test_run_process_returns_exit_code_and_both_streams() -> None:
    result = await run(sh("echo out; echo err >&2; exit 7"))
    assert result.exit_code == 7
    assert (result.stdout.text, result.stderr.text) == ("out\n", "err\n")
    assert not result.stdout.cut
    assert result.stdout.total_bytes == 4
    assert result.stdout.shown() == "out\n"


async def test_run_process_reports_death_by_signal_as_a_negative_exit_code() -> None:
    result = await run(sh("kill -TERM $$"))
    assert result.exit_code == -signal.SIGTERM
    assert describe_exit(result.exit_code) == "killed by SIGTERM"


@pytest.mark.parametrize(
    ("exit_code", "text"),
    [
        pytest.param(0, "exit 0", id="zero"),
        pytest.param(3, "exit 3", id="non-zero"),
        pytest.param(-9, "killed by SIGKILL", id="signal"),
        pytest.param(-200, "killed by signal 200", id="unknown-signal"),
    ],
)
def test_describe_exit_names_the_status(exit_code: int, text: str) -> None:
    assert describe_exit(exit_code) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [pytest.param(65536, "64 KiB", id="KiB"), pytest.param(2 << 20, "2 MiB", id="MiB"), pytest.param(5, "5 bytes")],
)
def test_format_size_uses_the_largest_whole_unit(count: int, text: str) -> None:
    assert format_size(count) == text


async def test_run_process_adds_env_to_its_own_environment_and_uses_cwd(tmp_path: Path) -> None:
    result = await run(
        sh('pwd; printf "%s\\n" "$HR_TEST_VALUE" "$PATH"'), env={"HR_TEST_VALUE": "$(id)"}, cwd=str(tmp_path)
    )
    assert result.stdout.text.splitlines() == [str(tmp_path), "$(id)", os.environ["PATH"]]


async def test_run_process_gives_stdin_end_of_file() -> None:
    result = await run(["cat"], timeout=5)
    assert (result.exit_code, result.stdout.text) == (0, "")


# -- output cap ---------------------------------------------------------------------------


async def test_run_process_keeps_draining_past_the_cap() -> None:
    # 5 MB through a 64 KiB pipe: the command only finishes if the runner keeps reading
    result = await run(sh("yes | head -c 5000000; yes e | head -c 2000000 >&2"), max_output=1000)
    assert result.exit_code == 0
    assert result.stdout.cut
    assert result.stderr.cut
    assert len(result.stdout.text) == 1000
    assert (result.stdout.total_bytes, result.stderr.total_bytes) == (5_000_000, 2_000_000)
    assert result.stdout.shown().endswith("y\n… [output cut at 1000 bytes; 5000000 bytes in all]\n")


async def test_run_process_drops_a_character_split_by_the_cut() -> None:
    result = await run(["printf", "ééé"], max_output=5)
    assert result.stdout.text == "éé"
    assert result.stdout.shown() == "éé\n… [output cut at 5 bytes; 6 bytes in all]\n"


async def test_run_process_refuses_a_non_positive_cap() -> None:
    with pytest.raises(ValueError, match="max_output"):
        await run(["true"], max_output=0)


# -- timeouts, cancellation, leftovers ----------------------------------------------------


async def test_run_process_kills_the_whole_group_on_timeout_and_keeps_partial_output(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    with pytest.raises(ProcessTimeoutError, match=r"^timed out after 0.5s") as caught:
        await run(sh(f"echo started; {group_script(pids)}"), timeout=0.5)
    assert caught.value.timeout == 0.5
    assert caught.value.stdout.text == "started\n"
    pgid, *children = await wait_for_lines(pids, 3)
    assert live_members(pgid) == []
    assert not any(is_running(pid) for pid in children)
    assert not Path(f"/proc/{pgid}").exists()  # reaped, not a zombie


async def test_run_process_sigkills_a_group_that_ignores_sigterm(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    with pytest.raises(ProcessTimeoutError):
        await run(sh(group_script(pids, ignore_term=True)), timeout=0.3, kill_grace=0.3)
    assert time.monotonic() - started < 5
    pgid, *children = await wait_for_lines(pids, 3)
    assert live_members(pgid) == []
    assert not any(is_running(pid) for pid in children)


async def test_run_process_kills_the_whole_group_when_cancelled(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(run(sh(group_script(pids)), timeout=30))
    pgid, *children = await wait_for_lines(pids, 3)
    assert len(live_members(pgid)) == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live_members(pgid) == []
    assert not any(is_running(pid) for pid in children)
    assert not Path(f"/proc/{pgid}").exists()


async def test_run_process_returns_when_a_leftover_holds_the_pipes_and_ends_it() -> None:
    started = time.monotonic()
    result = await run(sh("sleep 60 & echo $!"), timeout=20)
    assert time.monotonic() - started < 10
    assert result.exit_code == 0
    assert not is_running(int(result.stdout.text))


async def test_run_process_leaves_no_leftover_when_the_command_exits_by_itself(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # the children close the pipes, so nothing but the group check can find them
    result = await run(sh(f"echo $$ > {pids}; sleep 60 >/dev/null 2>&1 & echo $! >> {pids}; exit 0"))
    assert result.exit_code == 0
    pgid, child = await wait_for_lines(pids, 2)
    assert not is_running(child)
    assert live_members(pgid) == []


# -- descendants that left the group -------------------------------------------------------


@pytest.mark.parametrize("way_out", ["exit", "timeout", "cancelled"])
async def test_run_process_ends_a_descendant_that_left_the_process_group(tmp_path: Path, way_out: str) -> None:
    pids, touched = tmp_path / "pids", tmp_path / "touched"
    escape = ESCAPE.format(touched=touched, pids=pids)
    if way_out == "exit":
        assert (await run(sh(escape + "exit 0"))).exit_code == 0
    elif way_out == "timeout":
        with pytest.raises(ProcessTimeoutError):
            await run(sh(escape + "sleep 60"), timeout=1.0)
    else:
        task = asyncio.create_task(run(sh(escape + "sleep 60"), timeout=30))
        await wait_for_lines(pids, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (escaped,) = await wait_for_lines(pids, 1)
    await wait_until_gone(escaped)
    assert not touched.exists()


async def test_run_process_marks_each_run_apart_and_leaves_other_runs_alone(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    other = asyncio.create_task(run(sh(f"echo $$ > {pids}; sleep 60"), timeout=30))
    try:
        (running,) = await wait_for_lines(pids, 1)
        first, second = (await run(sh(f"echo ${MARKER}"))), (await run(sh(f"echo ${MARKER}")))
        assert is_running(running)  # another run's end did not touch it
        markers = {first.stdout.text.strip(), second.stdout.text.strip()}
        assert len(markers) == 2
        assert all(len(marker) == 32 for marker in markers)
        assert MARKER not in os.environ  # Handrail itself is never marked
    finally:
        other.cancel()
        with pytest.raises(asyncio.CancelledError):
            await other


class _CountingProc:
    """Stands in for /proc: counts how often the group check scans it; the marker sweep's reads reach the real one."""

    def __init__(self) -> None:
        self.scans = 0
        self._real = Path("/proc")

    def is_dir(self) -> bool:
        return True

    def iterdir(self) -> list[Path]:
        self.scans += 1
        return []

    def __truediv__(self, other: str) -> Path:
        return self._real / other

    def __fspath__(self) -> str:
        return str(self._real)


async def test_run_process_confirms_an_emptied_group_without_scanning_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    # the usual end (the program exited, nothing stayed behind) costs one kill(0), not a read of every process (#14)
    proc = _CountingProc()
    monkeypatch.setattr(process, "_PROC", proc)
    for _ in range(3):
        result = await run(sh("echo ok"))
        assert result.stdout.text == "ok\n"
    assert proc.scans == 0


# -- cannot start -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        pytest.param(["/nonexistent/hr-tool"], "cannot start '/nonexistent/hr-tool': No such file", id="path"),
        pytest.param(["no-such-tool-hr"], "cannot start 'no-such-tool-hr': No such file", id="PATH"),
        pytest.param(["printf", "a\0b"], "NUL byte", id="nul-argument"),
        pytest.param([], "empty", id="empty"),
    ],
)
async def test_run_process_raises_start_error_when_it_cannot_start(argv: list[str], reason: str) -> None:
    with pytest.raises(ProcessStartError, match=reason):
        await run(argv)


async def test_run_process_raises_start_error_for_a_nul_in_env() -> None:
    with pytest.raises(ProcessStartError, match="NUL byte"):
        await run(["true"], env={"HR_X": "a\0b"})


async def test_run_process_raises_start_error_for_a_missing_cwd(tmp_path: Path) -> None:
    with pytest.raises(ProcessStartError, match="No such file"):
        await run(["true"], cwd=str(tmp_path / "missing"))


async def test_withheld_variables_never_reach_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDRAIL_TEST_SECRET", "s3cret-value")
    monkeypatch.setenv("HANDRAIL_TEST_PLAIN", "plain-value")
    withhold_environment(["HANDRAIL_TEST_SECRET"])
    try:
        result = await run_process(["/usr/bin/env"], timeout=10)
    finally:
        withhold_environment([])
    assert "HANDRAIL_TEST_PLAIN=plain-value" in result.stdout.text
    assert "s3cret-value" not in result.stdout.text
    assert "PATH=" in result.stdout.text  # the rest of the environment is still there
