"""shell_command runs real subprocesses: output, exit codes, caps, timeouts and hostile labels."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from handrail.diagnostics.base import ProbeContext
from handrail.diagnostics.shell_command import ShellCommandParams, ShellCommandProbe
from handrail.errors import ProbeError
from support.processes import ESCAPE, in_process_table, is_running, live_members, wait_for_lines, wait_until_gone

pytestmark = [
    # an unclosed subprocess transport or pipe shows up as one of these
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]


def params(command: str | list[str], **config: Any) -> ShellCommandParams:
    return ShellCommandParams.model_validate({"command": command, **config})


def context(timeout: float = 10.0, **labels: str) -> ProbeContext:
    return ProbeContext(template={"labels": labels, "annotations": {}}, timeout=timeout)


async def observe(
    command: str | list[str], *, timeout: float = 10.0, probe: ShellCommandProbe | None = None, **config: Any
):
    probe = probe or ShellCommandProbe()
    try:
        return await probe.observe(params(command, **config), context(timeout))
    finally:
        await probe.aclose()


# -- output and exit status ---------------------------------------------------------------


async def test_shell_command_probe_reports_exit_code_stdout_stderr_and_lines() -> None:
    observation = await observe(["sh", "-c", "printf 'a\\nb\\nc\\n'; printf 'warn\\n' >&2"])
    assert observation.values == {
        "exit_code": 0,
        "stdout": "a\nb\nc\n",
        "stderr": "warn\n",
        "lines": ["a", "b", "c"],
        "json": None,
    }
    assert set(observation.values) == set(ShellCommandParams.PROVIDES)
    assert observation.message == "exit 0; 3 lines"


async def test_shell_command_probe_parses_json_stdout() -> None:
    observation = await observe(["printf", '{"ready": 3, "names": ["a"]}\n'])
    assert observation.values["json"] == {"ready": 3, "names": ["a"]}


async def test_shell_command_probe_runs_a_string_with_sh() -> None:
    observation = await observe("printf 'x\\ny\\n' | wc -l")
    assert observation.values["stdout"].strip() == "2"


async def test_shell_command_probe_runs_an_argv_list_without_a_shell() -> None:
    observation = await observe(["printf", "%s\\n", "$HOME; echo no | cat"])
    assert observation.values["lines"] == ["$HOME; echo no | cat"]


async def test_shell_command_probe_treats_non_zero_exit_as_data() -> None:
    observation = await observe("echo partial; echo 'disk is full' >&2; exit 3")
    assert observation.values["exit_code"] == 3
    assert observation.values["lines"] == ["partial"]
    assert observation.values["stderr"] == "disk is full\n"
    assert observation.message == "exit 3; 1 line; stderr: disk is full"


async def test_shell_command_probe_reports_death_by_signal() -> None:
    observation = await observe("kill -KILL $$")
    assert observation.values["exit_code"] == -signal.SIGKILL
    assert observation.message.startswith("killed by SIGKILL")


async def test_shell_command_probe_gives_stdin_end_of_file() -> None:
    observation = await observe(["cat"], timeout=5)
    assert observation.values["exit_code"] == 0
    assert observation.values["stdout"] == ""


async def test_shell_command_probe_runs_in_cwd_with_rendered_env(tmp_path: Path) -> None:
    probe = ShellCommandProbe()
    observation = await probe.observe(
        params('pwd; printf "%s\\n" "$GREETING"', cwd=str(tmp_path), env={"GREETING": "hi {{ labels.who }}"}),
        context(who="bob"),
    )
    assert observation.values["lines"] == [str(tmp_path), "hi bob"]


# -- output cap ---------------------------------------------------------------------------


async def test_shell_command_probe_caps_output_and_keeps_the_child_running() -> None:
    # 10 MB through a 64 KiB pipe: the command only finishes if the probe keeps reading
    observation = await observe("yes | head -c 10000000; yes e | head -c 3000000 >&2")
    values = observation.values
    assert values["exit_code"] == 0
    assert values["stdout"].endswith("\n… [output cut at 64 KiB; 10000000 bytes in all]\n")
    assert len(values["stdout"]) < 64 * 1024 + 100
    assert values["stderr"].endswith("\n… [output cut at 64 KiB; 3000000 bytes in all]\n")
    assert set(values["lines"]) == {"y"}
    assert len(values["lines"]) == 64 * 1024 // 2
    assert values["json"] is None
    assert observation.message == f"exit 0; {64 * 1024 // 2} lines (stdout cut at 64 KiB)"


async def test_shell_command_probe_does_not_split_a_character_at_the_cut() -> None:
    observation = await observe(["printf", "ééé"], probe=ShellCommandProbe(max_output=5))
    assert observation.values["stdout"] == "éé\n… [output cut at 5 bytes; 6 bytes in all]\n"
    assert observation.values["lines"] == ["éé"]


async def test_shell_command_probe_replaces_invalid_utf8() -> None:
    observation = await observe(["printf", "ok \\377\\n"])
    assert observation.values["lines"] == ["ok \ufffd"]


# -- timeouts, cancellation, leftovers ----------------------------------------------------


async def test_shell_command_probe_kills_the_whole_process_group_on_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 60 & echo $! >> {pids}; sleep 60 & echo $! >> {pids}; wait"
    with pytest.raises(ProbeError, match=r"^timed out after 0.5s"):
        await observe(["sh", "-c", script], timeout=0.5)
    pgid, *children = await wait_for_lines(pids, 3)
    assert live_members(pgid) == []
    assert not any(is_running(pid) for pid in children)
    assert not in_process_table(pgid)


async def test_shell_command_probe_kills_a_group_that_ignores_sigterm(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"trap '' TERM; echo $$ > {pids}; sleep 60 & echo $! >> {pids}; wait"
    with pytest.raises(ProbeError, match="timed out"):
        await observe(["sh", "-c", script], timeout=0.5, probe=ShellCommandProbe(kill_grace=0.3))
    pgid, child = await wait_for_lines(pids, 2)
    assert live_members(pgid) == []
    assert not is_running(child)


async def test_shell_command_probe_kills_the_whole_process_group_when_cancelled(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 60 & echo $! >> {pids}; sleep 60 & echo $! >> {pids}; wait"
    probe = ShellCommandProbe()
    task = asyncio.create_task(probe.observe(params(["sh", "-c", script]), context(timeout=30)))
    pgid, *children = await wait_for_lines(pids, 3)
    assert live_members(pgid) != []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live_members(pgid) == []
    assert not any(is_running(pid) for pid in children)
    assert not in_process_table(pgid)


async def test_shell_command_probe_ends_what_the_command_left_running() -> None:
    # sh exits at once, but the background sleep holds stdout open; the probe must not wait for it
    started = time.monotonic()
    observation = await observe("sleep 60 & echo $!", timeout=20)
    assert time.monotonic() - started < 10
    (pid,) = observation.values["lines"]
    assert observation.values["exit_code"] == 0
    assert not is_running(int(pid))


@pytest.mark.parametrize("way_out", ["exit", "timeout"])
async def test_shell_command_probe_ends_a_descendant_that_left_the_process_group(tmp_path: Path, way_out: str) -> None:
    pids, touched = tmp_path / "pids", tmp_path / "touched"
    escape = ESCAPE.format(touched=touched, pids=pids)
    if way_out == "exit":
        assert (await observe(escape + "echo ok")).values["lines"] == ["ok"]
    else:
        with pytest.raises(ProbeError, match="timed out"):
            await observe(escape + "sleep 60", timeout=1.0)
    (escaped,) = await wait_for_lines(pids, 1)
    await wait_until_gone(escaped)
    assert not touched.exists()


# -- hostile labels -----------------------------------------------------------------------

HOSTILE = [
    pytest.param("; touch {marker}", id="semicolon"),
    pytest.param("$(touch {marker})", id="command-substitution"),
    pytest.param("`touch {marker}`", id="backticks"),
    pytest.param('"; touch {marker}; echo "', id="double-quote"),
    pytest.param("' ; touch {marker} ; '", id="single-quote"),
    pytest.param("x\ntouch {marker}", id="newline"),
]


@pytest.mark.parametrize("template", HOSTILE)
@pytest.mark.parametrize(
    "command",
    [
        pytest.param("printf '%s\\n' {{ labels.v }}", id="bare"),
        pytest.param('printf "%s\\n" "{{ labels.v }}"', id="in-double-quotes"),
        pytest.param(["printf", "%s\\n", "{{ labels.v }}"], id="argv"),
    ],
)
async def test_shell_command_probe_prints_hostile_labels_literally(
    tmp_path: Path, template: str, command: str | list[str]
) -> None:
    marker = tmp_path / "pwned"
    value = template.format(marker=marker)
    observation = await ShellCommandProbe().observe(params(command), context(v=value))
    assert observation.values["stdout"] == f"{value}\n"
    assert not marker.exists()


async def test_shell_command_probe_refuses_a_label_inside_single_quotes() -> None:
    with pytest.raises(ProbeError, match="single quotes"):
        await ShellCommandProbe().observe(params("echo '{{ labels.v }}'"), context(v="x"))


async def test_shell_command_probe_refuses_a_missing_label() -> None:
    with pytest.raises(ProbeError, match="no value"):
        await ShellCommandProbe().observe(params(["echo", "{{ labels.missing }}"]), context())


# -- cannot start -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [pytest.param(["/nonexistent/probe-tool"], id="path"), pytest.param(["no-such-tool-hr"], id="PATH")]
)
async def test_shell_command_probe_reports_error_when_the_command_is_not_found(argv: list[str]) -> None:
    with pytest.raises(ProbeError, match=rf"cannot start '{argv[0]}': No such file or directory"):
        await observe(argv)


async def test_shell_command_probe_reports_error_when_the_command_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    if os.access(script, os.X_OK):  # pragma: no cover - root ignores permission bits on some systems
        pytest.skip("this user may execute any file")
    with pytest.raises(ProbeError, match="Permission denied"):
        await observe([str(script)])


async def test_shell_command_probe_reports_error_for_a_missing_cwd(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="is not a directory"):
        await observe(["true"], cwd=str(tmp_path / "missing"))
