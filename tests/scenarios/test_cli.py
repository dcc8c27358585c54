"""`handrail test` as users run it: output, exit codes, --junit and --min-coverage."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from handrail.cli import cli

from .support import FIXTURES, INVALID, TINY

ROOT = Path(__file__).parents[2]


def handrail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handrail", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    shutil.copy(FIXTURES / "tiny.test.yaml", tmp_path / "tiny.test.yaml")
    return tmp_path


def test_default_runs_the_catalog_scenarios_and_passes() -> None:
    result = handrail("test")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "  PASS  the database connection pool is exhausted" in lines
    assert not any(line.startswith("  FAIL") for line in lines)
    assert re.match(r"6 runbooks, (\d+) scenarios: \1 passed, 0 failed\. Coverage 100% \(decisions", lines[-1])
    assert re.search(r"Scenarios ran in [\d.]+ ms \(\d+ ms with linting\)\.$", lines[-1])


def test_a_failing_scenario_exits_1_says_what_differed_and_writes_junit(folder: Path) -> None:
    text = (folder / "tiny.test.yaml").read_text().replace("decisions: [1]", "decisions: [2]")
    (folder / "tiny.test.yaml").write_text(text)
    junit = folder / "out" / "results.xml"
    junit.parent.mkdir()
    result = handrail("test", str(folder), "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "  FAIL  the service is down\n        decisions: expected [2], got [1] (1: Down — restart it;" in result.stdout
    )
    assert "1 runbook, 3 scenarios: 2 passed, 1 failed." in result.stdout
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert [f.get("message", "").split(" (")[0] for f in failures] == ["decisions: expected [2], got [1]"]


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["test", *args])
    return result.exit_code, result.stdout, result.stderr


def test_problems_in_a_scenario_file_print_in_compiler_format_and_exit_1(folder: Path) -> None:
    shutil.copy(INVALID / "unknown-remediation.yaml", folder / "tiny.test.yaml")
    code, out, _ = _invoke(str(folder))
    assert code == 1
    assert f"{folder / 'tiny.test.yaml'}:8:22: HR103 scenarios[0].expect.remediations[0]: " in out
    assert "0 scenarios: 0 passed, 0 failed, 2 errors in files." in out


def test_lint_errors_in_the_runbook_fail_the_run(folder: Path) -> None:
    (folder / "tiny.yaml").write_text(TINY.read_text().replace("then: [page]", "then: [pager]"))
    code, out, _ = _invoke(str(folder / "tiny.yaml"))
    assert code == 1
    assert "HR302" in out
    assert "  not run: the runbook has errors (above)" in out


def test_min_coverage_fails_below_the_figure(folder: Path) -> None:
    text = (folder / "tiny.test.yaml").read_text()
    (folder / "tiny.test.yaml").write_text(text.split("\n  - name: the service is slow")[0] + "\n")
    code, out, err = _invoke(str(folder), "--min-coverage", "50")
    assert code == 1
    assert "coverage 33.3%: decisions 1/3, statuses 3/9" in out
    assert "not exercised: decision 2 (Slow — scale up and look)" in out
    assert "not exercised: latency reading warning, error" in out
    assert "Coverage 33.3% is below --min-coverage 50%." in err
    assert _invoke(str(folder), "--min-coverage", "33")[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("/no/such/path",), id="missing-path"),
        pytest.param(("--min-coverage", "101"), id="coverage-above-100"),
        pytest.param(("--junit",), id="junit-without-file"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    assert _invoke(*args)[0] == 2


def test_a_folder_without_runbooks_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _invoke(str(tmp_path))
    assert code == 2
    assert "no runbook or scenario file found" in err


def test_an_unwritable_junit_path_is_a_usage_error(folder: Path) -> None:
    code, _, err = _invoke(str(folder), "--junit", str(folder / "missing" / "r.xml"))
    assert code == 2
    assert "cannot write --junit" in err
