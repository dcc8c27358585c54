"""The `handrail` command as users run it: a real process, its output and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from handrail.cli import cli

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "tests" / "fixtures" / "seed" / "payment-service-slow.json"
INVALID = ROOT / "tests" / "fixtures" / "invalid"


def handrail(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handrail", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_lint_defaults_to_the_configured_catalog_and_passes_strict() -> None:
    result = handrail("lint", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "All clean: 6 files checked." in result.stderr


def test_lint_reports_every_problem_in_compiler_format_and_exits_1() -> None:
    result = handrail("lint", str(REFERENCE))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 14
    assert lines[0].startswith(f"{REFERENCE}:24:21: HR202 ")
    assert "Found 13 errors and 1 warning in 1 file." in result.stderr


def test_lint_json_format_lists_problems_with_places() -> None:
    result = handrail("lint", "--format", "json", str(REFERENCE))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["summary"] == {"files": 1, "errors": 13, "warnings": 1}
    first = report["problems"][0]
    assert (first["line"], first["column"], first["code"], first["severity"]) == (24, 21, "HR202", "error")


def test_lint_warnings_pass_unless_strict(tmp_path: Path) -> None:
    warned = INVALID / "unreferenced-remediation.yaml"
    assert handrail("lint", str(warned)).returncode == 0
    assert handrail("lint", "--strict", str(warned)).returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("lint", "/no/such/path"), id="missing-path"),
        pytest.param(("lint", "--format", "xml"), id="bad-format"),
        pytest.param(("frobnicate",), id="unknown-command"),
        pytest.param(("eval", "1", "--context", "{not json"), id="bad-context-json"),
        pytest.param(("eval", "1", "--context", "[1]"), id="context-not-object"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = handrail(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_lint_never_prints_a_traceback_on_hostile_files() -> None:
    result = handrail("lint", str(INVALID))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "HR002" in result.stdout


def test_explain_by_id_from_the_catalog() -> None:
    result = handrail("explain", "payment-service-slow")
    assert result.returncode == 0, result.stderr
    assert "Payment Service High Latency" in result.stdout
    assert "critical when value is at least 90" in result.stdout
    assert "Rollback to Previous Version [rollback_deployment] (automated, rollback, needs approval)" in result.stdout


def test_explain_by_path_in_markdown_and_mermaid() -> None:
    path = str(ROOT / "examples" / "runbooks" / "bad-deploy.yaml")
    markdown = handrail("explain", path, "--format", "markdown")
    assert markdown.returncode == 0
    assert markdown.stdout.startswith("# Bad Deploy\n")
    mermaid = handrail("explain", path, "--format", "mermaid")
    assert mermaid.returncode == 0
    assert mermaid.stdout.startswith("flowchart TD\n")


def test_explain_unknown_id_suggests_the_closest() -> None:
    result = handrail("explain", "payment-service-slw")
    assert result.returncode == 1
    assert "did you mean 'payment-service-slow'?" in result.stderr


def test_explain_refuses_a_runbook_with_errors_and_shows_them() -> None:
    result = handrail("explain", str(REFERENCE))
    assert result.returncode == 1
    assert "HR302" in result.stderr
    assert "fix them first" in result.stderr


def test_catalog_folder_comes_from_handrail_yaml(tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "x.yaml").write_text((ROOT / "examples" / "runbooks" / "oom-kills.yaml").read_text())
    (tmp_path / "handrail.yaml").write_text("runbooks: books\n")
    result = handrail("explain", "oom-kills", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Containers OOM-Killed" in result.stdout


def test_broken_settings_file_is_a_usage_error_with_a_place(tmp_path: Path) -> None:
    (tmp_path / "handrail.yaml").write_text("runbook: books\n")
    result = handrail("lint", cwd=tmp_path)
    assert result.returncode == 2
    assert "handrail.yaml:1:1: unknown key 'runbook'" in result.stderr
    assert "did you mean 'runbooks'?" in result.stderr


def test_missing_default_catalog_is_explained(tmp_path: Path) -> None:
    result = handrail("lint", cwd=tmp_path)
    assert result.returncode == 2
    assert "runbooks does not exist" in result.stderr


def test_eval_prints_json_result() -> None:
    result = handrail("eval", "value >= 70 && value < 90", "--context", '{"value": 75}')
    assert (result.returncode, result.stdout.strip()) == (0, "true")
    result = handrail("eval", "any_slow > 1000ms", "--context", '{"any_slow": 1.5}')
    assert result.stdout.strip() == "true"


def test_eval_error_names_the_column_and_exits_1() -> None:
    result = handrail("eval", "valu > 3", "--context", '{"value": 1}')
    assert result.returncode == 1
    assert result.stderr.startswith("error: column 1: ")
    assert "did you mean 'value'?" in result.stderr
    assert result.stderr.splitlines()[-1] == "  ^"


def test_schema_is_json_schema_2020_12() -> None:
    result = handrail("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_config_is_accepted_before_or_after_the_command(tmp_path: Path) -> None:
    config = str(ROOT / "handrail.yaml")
    after = handrail("explain", "oom-kills", "--config", config, cwd=tmp_path)
    before = handrail("--config", config, "explain", "oom-kills", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout


def _commands_taking_a_runbook(group: click.Group, ctx: click.Context, prefix: str = "") -> list[str]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _commands_taking_a_runbook(command, click.Context(command, parent=ctx), f"{prefix}{name} ")
        elif command is not None and any(isinstance(p, click.Argument) and p.name == "runbook" for p in command.params):
            found.append(prefix + name)
    return found


RUNBOOK_COMMANDS = ["explain", "run", "trigger"]


def test_every_command_that_takes_a_runbook_is_checked_below() -> None:
    assert _commands_taking_a_runbook(cli, click.Context(cli)) == RUNBOOK_COMMANDS


@pytest.mark.parametrize("command", RUNBOOK_COMMANDS)
def test_a_runbook_id_whose_file_has_errors_names_the_file_and_its_first_problems(tmp_path: Path, command: str) -> None:
    (tmp_path / "runbooks").mkdir()
    oom = (ROOT / "examples" / "runbooks" / "oom-kills.yaml").read_text()
    broken = oom.replace("id: oom-kills", "id: gated-restart").replace("severity: P2", "severity: high\nowner: sre")
    (tmp_path / "runbooks" / "gated.yaml").write_text(broken)
    (tmp_path / "handrail.yaml").write_text(f"runbooks: runbooks\ndatabase: 'sqlite:///{tmp_path / 'h.db'}'\n")
    result = handrail(command, "gated-restart", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    path = tmp_path / "runbooks" / "gated.yaml"
    assert lines[0].startswith(f"{path}:7:11: HR103 severity: ")
    assert lines[1] == f"{path}:8:1: HR104 unknown key 'owner' in the runbook"
    assert (
        lines[2]
        == f"handrail: runbook 'gated-restart' is in {path}, which has 2 errors; fix them first (`handrail lint`)"
    )
    assert "no runbook" not in result.stderr


def test_lint_with_settings_checks_their_policy_and_without_settings_does_not(tmp_path: Path) -> None:
    config = tmp_path / "handrail.yaml"
    config.write_text(
        f"runbooks: '{ROOT / 'examples' / 'runbooks'}'\n"
        "policy:\n  requireApproval: {actions: [restart_service]}\n  allowedTargets: ['#incidents-*', 'pagerduty:*']\n"
    )
    result = handrail("lint", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    slow = ROOT / "examples" / "runbooks" / "payment-service-slow.yaml"
    assert f"{slow}:172:13: HR701 remediation 'restart_pods' runs restart_service without" in result.stdout
    assert f"{slow}:211:14: HR704 escalation.secondary: '#sre-escalation' is not among" in result.stdout
    assert "Found 7 errors and 0 warnings in 6 files." in result.stderr  # 4 secondaries, 2 notify channels
    assert handrail("lint", str(slow), cwd=tmp_path).returncode == 1  # ./handrail.yaml is the default settings
    (tmp_path / "elsewhere").mkdir()
    assert handrail("lint", str(slow), cwd=tmp_path / "elsewhere").returncode == 0  # no settings: no policy
