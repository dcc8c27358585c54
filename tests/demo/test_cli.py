"""`handrail demo` and its subcommands when no demo runs, or a dead one left its state behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from handrail.cli import cli
from handrail.demo import DemoError
from handrail.demo.postgres import ThrowawayPostgres
from handrail.demo.world import DemoWorld, claim_state_file, read_state
from support.processes import is_running

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _state(path: Path, pid: int, root: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "pid": pid,
                "root": str(root),
                "api_url": "http://127.0.0.1:1",
                "admin_token": "t",
                "service_url": "http://127.0.0.1:1",
                "service_token": "t",
                "prometheus_url": "http://127.0.0.1:1",
                "alertmanager_url": "http://127.0.0.1:1",
                "database_conninfo": "postgresql://postgres@127.0.0.1:1/payments",
                "postgres_data_dir": str(root / "postgresql" / "data"),
                "processes": {},
            }
        )
    )


def test_inject_without_a_running_demo_says_how_to_start_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "inject", "error-burst", "--state-file", str(tmp_path / "none.json")])
    assert result.exit_code == 1
    assert "no demo is running" in result.output
    assert "handrail demo" in result.output


def test_inject_refuses_an_unknown_fault_as_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "inject", "disk-full", "--state-file", str(tmp_path / "s.json")])
    assert result.exit_code == 2
    assert "db-pool-exhaustion" in result.output


def test_inject_into_a_demo_that_died_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    _state(state, _dead_pid(), tmp_path)
    result = CliRunner().invoke(cli, ["demo", "clear", "--state-file", str(state)])
    assert result.exit_code == 1
    assert "is no longer running" in result.output


def test_a_broken_state_file_is_named(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"pid": ')
    with pytest.raises(DemoError, match=rf"{state}: not a demo state file"):
        read_state(state)


def test_a_second_demo_on_the_same_state_file_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    _state(state, os.getpid(), tmp_path / "elsewhere")
    world = DemoWorld(runbooks=EXAMPLES, state_file=state)
    with pytest.raises(DemoError, match=r"a demo is already running \(pid \d+"):
        world.__enter__()
    assert not world.root.exists()
    assert state.exists()  # the running demo's state is not touched


def test_state_left_by_a_dead_demo_is_cleaned_up_before_starting(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    leftover = tmp_path / "handrail-demo-leftover"
    leftover.mkdir()
    _state(state, _dead_pid(), leftover)
    claim_state_file(state)
    assert not state.exists()
    assert not leftover.exists()


def test_a_cluster_left_by_a_dead_demo_is_stopped_and_its_folder_removed() -> None:
    leftover = Path(tempfile.mkdtemp(prefix="handrail-demo-"))
    leftover.chmod(0o711)
    postgres = ThrowawayPostgres(leftover)
    postgres.start()  # and never closed: its demo "died"
    postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
    state = leftover.parent / f"{leftover.name}.json"
    _state(state, _dead_pid(), leftover)
    try:
        claim_state_file(state)
        assert not is_running(postmaster)
        assert not leftover.exists()
        assert not state.exists()
    finally:
        postgres.close()
        state.unlink(missing_ok=True)


def test_demo_needs_a_runbooks_folder(tmp_path: Path) -> None:
    (tmp_path / "handrail.yaml").write_text(f"runbooks: '{tmp_path / 'missing'}'\n")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "handrail.yaml"), "demo"])
    assert result.exit_code == 1
    assert "no runbooks folder here" in result.output
